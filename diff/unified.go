package diff

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// contextLines is how many unchanged lines surround each hunk, as in git.
const contextLines = 3

// unifiedYAML returns a unified diff, without file headers, from a to b
// printed as YAML. Either may be nil, for an added or a removed object.
// YAML with sorted keys makes the text as free of ordering noise as the
// structural comparison that decided the objects differ. The objects are
// marshalled directly rather than through JSON as sigs.k8s.io/yaml does:
// they hold only JSON's types, so the text is the same, in a third of the
// time.
func unifiedYAML(a, b *unstructured.Unstructured) (string, error) {
	from, err := toYAML(a)
	if err != nil {
		return "", err
	}
	to, err := toYAML(b)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:       lines(from),
		B:       lines(to),
		Context: contextLines,
	})
}

func toYAML(u *unstructured.Unstructured) (string, error) {
	if u == nil {
		return "", nil
	}
	b, err := yaml.Marshal(u.Object)
	return string(b), err
}

// lines splits s into lines that keep their newline, as difflib expects.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
