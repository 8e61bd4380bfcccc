package fieldset

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Proofs remember, per object of a cluster, that a dry-run apply found it
// in sync: what was desired then, and the live object it was compared
// with. Objects the server normalises (a Secret given as stringData, a port
// whose protocol it defaults) can never be proven in sync from a list, and
// would otherwise cost a GET and a dry-run apply on every pass. While the
// desired object and the live one's UID and resource version stay the same,
// applying again would change nothing, so the proof stands in for the
// dry-run. Anyone's write to the object changes its resource version, and
// so ends the proof.
type Proofs struct {
	mu sync.Mutex
	m  map[object.ObjMetadata]proof
}

type proof struct {
	desired         [32]byte
	uid             types.UID
	resourceVersion string
}

// Prove records that desired was found in sync with live.
func (ps *Proofs) Prove(key object.ObjMetadata, desired, live *unstructured.Unstructured) {
	sum, ok := digest(desired)
	if !ok {
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = make(map[object.ObjMetadata]proof)
	}
	ps.m[key] = proof{desired: sum, uid: live.GetUID(), resourceVersion: live.GetResourceVersion()}
}

// Proven reports whether desired was found in sync with live as it is now.
func (ps *Proofs) Proven(key object.ObjMetadata, desired, live *unstructured.Unstructured) bool {
	ps.mu.Lock()
	p, ok := ps.m[key]
	ps.mu.Unlock()
	if !ok || p.uid != live.GetUID() || p.resourceVersion != live.GetResourceVersion() {
		return false
	}
	sum, ok := digest(desired)
	return ok && sum == p.desired
}

// Forget drops the proof of an object, as when it is pruned.
func (ps *Proofs) Forget(key object.ObjMetadata) {
	ps.mu.Lock()
	delete(ps.m, key)
	ps.mu.Unlock()
}

// digest hashes an object's JSON encoding, which sorts map keys.
func digest(obj *unstructured.Unstructured) ([32]byte, bool) {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(raw), true
}
