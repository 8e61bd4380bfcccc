package reconciler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
)

// Digest returns a digest of what target asks its cluster to run under
// instance, the tandem that owns it there: the tier sets, each with its
// dependencies, health and drift settings and every object, in order, and
// the solutions allowed to be empty. Revisions are left out: two renders
// of one commit under revisions named differently digest alike. Two
// parties that compute the same digest agree on what the cluster runs and
// who owns it; a pull-mode agent applies a release only then.
func Digest(target Target, instance string) (string, error) {
	h := sha256.New()
	field(h, "instance", instance)
	field(h, "cluster", target.Cluster)
	field(h, "allowEmpty", strings.Join(target.AllowEmpty, ","))
	tiers := slices.Clone(target.Tiers)
	slices.SortFunc(tiers, func(a, b TierSet) int {
		return KeyOf(target.Cluster, a).Compare(KeyOf(target.Cluster, b))
	})
	for _, ts := range tiers {
		field(h, "tier", ts.Solution+"/"+ts.Tier)
		field(h, "dependsOn", strings.Join(ts.DependsOn, ","))
		field(h, "settings", fmt.Sprintf("noWait=%t healthTimeout=%s adopt=%t reportDrift=%t",
			ts.NoWait, ts.HealthTimeout, ts.Adopt, ts.ReportDrift))
		for _, obj := range ts.Objects {
			// encoding/json writes map keys sorted: one object, one
			// encoding.
			data, err := json.Marshal(obj.Object)
			if err != nil {
				return "", fmt.Errorf("digest %s %s/%s of tier %s/%s: %w",
					obj.GetKind(), obj.GetNamespace(), obj.GetName(), ts.Solution, ts.Tier, err)
			}
			field(h, "object", string(data))
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// field writes a named value to h, length-prefixed so that no two
// sequences of fields write the same bytes.
func field(h hash.Hash, name, value string) {
	io.WriteString(h, fmt.Sprintf("%s %d\n%s\n", name, len(value), value))
}
