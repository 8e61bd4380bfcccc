package renderer

import (
	"bytes"
	"errors"
	"fmt"
	"io"

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

// expansion is the size of YAML once its aliases are expanded.
type expansion struct{ nodes, bytes int64 }

func (e expansion) add(o expansion) expansion { return expansion{e.nodes + o.nodes, e.bytes + o.bytes} }

func (e expansion) over(nodes, bytes int64) bool { return e.nodes > nodes || e.bytes > bytes }

// budget tracks what a revision's files have expanded to so far.
type budget struct {
	spent   expansion
	checked map[string]error // by repository path
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
	if b.checked == nil {
		b.checked = map[string]error{}
	}
	if _, seen := b.checked[file]; seen {
		return docs, b.checked[file]
	}
	b.spent = b.spent.add(size)
	var err error
	if b.spent.over(MaxRevisionNodes, MaxRevisionBytes) {
		err = fmt.Errorf("%s: the files read so far expand to more than %d YAML nodes or %d bytes, over the budget for one revision", file, MaxRevisionNodes, MaxRevisionBytes)
	}
	b.checked[file] = err
	return docs, err
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
