package diff

import (
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// contextLines is how many unchanged lines surround each hunk, as in git.
const contextLines = 3

// unifiedYAML returns a unified diff, without file headers, from a to b
// printed as YAML. Either may be nil, for an added or a removed object.
// YAML with sorted keys makes the text as free of ordering noise as the
// structural comparison that decided the objects differ.
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
