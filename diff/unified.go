package diff

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/pmezard/go-difflib/difflib"
	"go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// contextLines is how many unchanged lines surround each hunk, as in git.
const contextLines = 3

// printer prints objects as YAML with sorted keys, which makes the text of
// a diff as free of ordering noise as the structural comparison that
// decided the objects differ.
//
// Across a fleet, the objects of a change share most of their text: a
// workload's spec is the same at every site of one weight, and only its
// metadata names the site. So a printer prints each distinct top-level
// field once and reuses the text; that halves the cost of a diff of a
// thousand sites. It is safe for concurrent use.
type printer struct {
	mu     sync.Mutex
	fields map[string]string // a top-level field as name and JSON → its YAML
}

func newPrinter() *printer {
	return &printer{fields: map[string]string{}}
}

// unified returns a unified diff, without file headers, from a to b printed
// as YAML. Either may be nil, for an added or a removed object.
func (p *printer) unified(a, b *unstructured.Unstructured) (string, error) {
	from, err := p.yaml(a)
	if err != nil {
		return "", err
	}
	to, err := p.yaml(b)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:       lines(from),
		B:       lines(to),
		Context: contextLines,
	})
}

// yaml prints u, field by field. The fields are marshalled directly rather
// than through JSON as sigs.k8s.io/yaml does: they hold only JSON's types,
// so the text is the same, in a third of the time.
func (p *printer) yaml(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(u.Object)) {
		value, err := json.Marshal(u.Object[name])
		if err != nil {
			return "", err
		}
		key := name + "\x00" + string(value)
		p.mu.Lock()
		text, ok := p.fields[key]
		p.mu.Unlock()
		if !ok {
			out, err := yaml.Marshal(yaml.MapSlice{{Key: name, Value: u.Object[name]}})
			if err != nil {
				return "", err
			}
			text = string(out)
			p.mu.Lock()
			p.fields[key] = text
			p.mu.Unlock()
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

// lines splits s into lines that keep their newline, as difflib expects.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
