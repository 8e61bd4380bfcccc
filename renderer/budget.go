package renderer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Budgets on what the YAML files kustomize reads may expand to. YAML
// aliases let a few hundred bytes stand for billions of nodes, which
// kustomize would expand in memory; tandem counts each file before
// kustomize parses it, an alias weighing what it repeats, and refuses a
// file or a revision over budget rather than exhausting the daemon.
const (
	// MaxFileNodes and MaxFileBytes bound one file: its YAML nodes and
	// the bytes of its scalars, with aliases expanded.
	MaxFileNodes = 1_000_000
	MaxFileBytes = 64 << 20
	// MaxRevisionNodes and MaxRevisionBytes bound the sum over every
	// file a revision's render reads, each file counted once.
	MaxRevisionNodes = 10_000_000
	MaxRevisionBytes = 256 << 20
)

// Budgets on what one revision's render produces: the objects of every
// target and their bytes (keys and scalars, about their size as JSON).
// The budgets on the YAML read bound each kustomize build; these bound the
// copies made of the builds, one per site, and a target's copy is refused
// before it is made. Together they are what bounds a render's memory.
const (
	MaxRenderedObjects = 500_000
	MaxRenderedBytes   = 512 << 20
)

// expansion is the size of YAML once its aliases are expanded.
type expansion struct{ nodes, bytes int64 }

func (e expansion) add(o expansion) expansion { return expansion{e.nodes + o.nodes, e.bytes + o.bytes} }

func (e expansion) over(nodes, bytes int64) bool { return e.nodes > nodes || e.bytes > bytes }

// budget tracks what a revision's files have expanded to so far.
type budget struct {
	spent   expansion
	checked map[string]error // by repository path
	charged []charge         // every charge, in order
}

// check decodes data, the content of file, into YAML nodes without
// expanding aliases and charges what they expand to. It returns the
// documents, or none when data is not YAML: kustomize reports that, and
// a file that does not parse cannot be expanded.
func (b *budget) check(file string, data []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	var size expansion
	sizes := map[*yaml.Node]expansion{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			docs = nil
			break
		}
		docs = append(docs, doc)
		size = size.add(expand(doc, sizes))
		if size.over(MaxFileNodes, MaxFileBytes) {
			return nil, fmt.Errorf("%s: YAML expands to more than %d nodes or %d bytes once its aliases are expanded, over the budget for one file", file, MaxFileNodes, MaxFileBytes)
		}
	}
	return docs, b.charge(file, size)
}

// charge is a file's expansion, once read.
type charge struct {
	file string
	size expansion
}

// charge adds size, the expansion of file, to what the revision has
// spent, unless file was charged before, and records it in b.charged. It
// returns the error check returned for file.
func (b *budget) charge(file string, size expansion) error {
	if b.checked == nil {
		b.checked = map[string]error{}
	}
	b.charged = append(b.charged, charge{file, size})
	if err, seen := b.checked[file]; seen {
		return err
	}
	b.spent = b.spent.add(size)
	var err error
	if b.spent.over(MaxRevisionNodes, MaxRevisionBytes) {
		err = fmt.Errorf("%s: the files read so far expand to more than %d YAML nodes or %d bytes, over the budget for one revision", file, MaxRevisionNodes, MaxRevisionBytes)
	}
	b.checked[file] = err
	return err
}

// replay charges what a build charged before, as that build reading the
// same files again would, and returns the first error.
func (b *budget) replay(charges []charge) error {
	for _, c := range charges {
		if err := b.charge(c.file, c.size); err != nil {
			return err
		}
	}
	return nil
}

// expand returns the size of n with its aliases expanded. Sizes are
// memoised by node, so an alias costs the walk once however often it is
// repeated, and they saturate rather than overflow.
func expand(n *yaml.Node, sizes map[*yaml.Node]expansion) expansion {
	if s, ok := sizes[n]; ok {
		return s
	}
	sizes[n] = expansion{} // an alias cycle adds nothing
	var s expansion
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		s = expand(n.Alias, sizes)
	} else {
		s = expansion{1, int64(len(n.Value))}
		for _, c := range n.Content {
			s = s.add(expand(c, sizes))
			if s.over(MaxRevisionNodes, MaxRevisionBytes) {
				break
			}
		}
	}
	s.nodes, s.bytes = min(s.nodes, MaxRevisionNodes+1), min(s.bytes, MaxRevisionBytes+1)
	sizes[n] = s
	return s
}

// output tracks what a revision's render has produced so far, against
// the budgets on its output.
type output struct {
	maxObjects, maxBytes int64
	objects, bytes       int64
	sizes                map[*unstructured.Unstructured]int64 // of a build's objects, by the first
}

func newOutput() *output {
	return &output{maxObjects: MaxRenderedObjects, maxBytes: MaxRenderedBytes}
}

// charge counts one more copy of objs, the objects of a build, and returns
// an error naming the budget when the copy would take the revision over it.
func (o *output) charge(objs []*unstructured.Unstructured) error {
	if len(objs) == 0 {
		return nil
	}
	size, ok := o.sizes[objs[0]]
	if !ok {
		for _, obj := range objs {
			size += valueSize(obj.Object)
		}
		if o.sizes == nil {
			o.sizes = map[*unstructured.Unstructured]int64{}
		}
		o.sizes[objs[0]] = size
	}
	o.objects += int64(len(objs))
	o.bytes += size
	switch {
	case o.objects > o.maxObjects:
		return fmt.Errorf("the rendered output passes %d objects, the budget for one revision", o.maxObjects)
	case o.bytes > o.maxBytes:
		return fmt.Errorf("the rendered output passes %d bytes, the budget for one revision", o.maxBytes)
	}
	return nil
}

// valueSize is the bytes of the keys and scalars of v, a value of an
// unstructured object.
func valueSize(v any) int64 {
	switch v := v.(type) {
	case map[string]any:
		var n int64
		for k, e := range v {
			n += int64(len(k)) + valueSize(e)
		}
		return n
	case []any:
		var n int64
		for _, e := range v {
			n += valueSize(e)
		}
		return n
	case string:
		return int64(len(v))
	default:
		return 8
	}
}

// errTimeBudget is the cause of a render's context ending when the
// render's time budget is spent.
var errTimeBudget = errors.New("render time budget spent")

// withTimeBudget returns ctx ending after budget, with errTimeBudget as
// its cause; ctx itself when budget is zero or less.
func withTimeBudget(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	if budget <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, budget, errTimeBudget)
}

// overTime returns an error once ctx is done: that the time budget is
// spent, saying where the render was, when the budget ended it, and ctx's
// own error otherwise. Kustomize cannot be stopped in the middle of a
// build, so a render checks between builds.
func overTime(ctx context.Context, budget time.Duration, where string) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errTimeBudget) {
		return fmt.Errorf("exceeded the render time budget of %s %s", budget, where)
	}
	return ctx.Err()
}
