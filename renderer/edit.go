package renderer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Solution returns the solution named name, or nil when the repository has
// none of that name.
func (c *Config) Solution(name string) *Solution {
	i, ok := slices.BinarySearchFunc(c.Solutions, name, func(s *Solution, name string) int {
		return strings.Compare(s.Name, name)
	})
	if !ok {
		return nil
	}
	return c.Solutions[i]
}

// SolutionFile returns the repository path of the file that declares the
// solution named name in fsys, the root of a config repository. It loads
// the repository as Load does, so a repository that does not validate is an
// error; a caller that already holds the Config reads Solution(name).File.
func SolutionFile(ctx context.Context, fsys fs.FS, name string) (string, error) {
	cfg, err := Load(ctx, fsys)
	if err != nil {
		return "", err
	}
	s := cfg.Solution(name)
	if s == nil {
		return "", fmt.Errorf("no solution named %q in the repository", name)
	}
	return s.File, nil
}

// SetScale returns data, the content of the file that declares one
// Solution, with the value of that solution's spec.scale replaced by scale
// written as the shortest decimal that reads back as it ("3", "2.5"). Every
// other byte, comments and formatting included, is kept, so the edit is a
// one-line diff. Other documents in the file (Sites, Kubernetes objects)
// are left alone.
//
// It refuses a file that does not declare exactly one Solution, a Solution
// without spec.scale (it never inserts the field), a spec.scale that is not
// written as a plain number on one line (an alias, a tag), and a scale that
// is negative, NaN or infinite. It does not check the scale against the
// solution's replica rules: Solution.Scaling does.
func SetScale(file string, data []byte, scale float64) ([]byte, error) {
	if math.IsNaN(scale) || math.IsInf(scale, 0) || scale < 0 {
		return nil, &FieldError{File: file, Field: "spec.scale", Err: fmt.Errorf("scale %v must be a finite number ≥ 0", scale)}
	}
	if scale == 0 {
		scale = 0 // no "-0"
	}
	value, err := scaleNode(file, data)
	if err != nil {
		return nil, err
	}
	start, end, err := scalarSpan(data, value)
	if err != nil {
		return nil, &FieldError{File: file, Line: value.Line, Field: "spec.scale", Err: err}
	}
	out := make([]byte, 0, len(data)+16)
	out = append(out, data[:start]...)
	out = strconv.AppendFloat(out, scale, 'f', -1, 64)
	out = append(out, data[end:]...)

	// The span came from the parser's positions; read the result back so a
	// mistake there can never write a descriptor that says something else.
	check, err := scaleNode(file, out)
	if err != nil {
		return nil, fmt.Errorf("edit %s: the edited file does not read back: %w", file, err)
	}
	if got, err := strconv.ParseFloat(check.Value, 64); err != nil || got != scale {
		return nil, fmt.Errorf("edit %s: the edited file reads back spec.scale %q, not %v", file, check.Value, scale)
	}
	return out, nil
}

// scaleNode returns the value node of spec.scale of the one Solution in a
// file.
func scaleNode(file string, data []byte) (*yaml.Node, error) {
	docs, ferr := documents(file, data)
	if ferr != nil {
		return nil, ferr
	}
	var solutions []*yaml.Node
	for _, doc := range docs {
		if apiVersion, kind, _ := header(doc); apiVersion == APIVersion && kind == KindSolution {
			solutions = append(solutions, doc.Content[0])
		}
	}
	switch len(solutions) {
	case 0:
		return nil, &FieldError{File: file, Err: fmt.Errorf("no %s %s in the file", APIVersion, KindSolution)}
	case 1:
	default:
		return nil, &FieldError{File: file, Line: solutions[1].Line, Err: fmt.Errorf("%d Solutions in one file; edit a file that declares one", len(solutions))}
	}
	sol := solutions[0]
	spec := valueAt(sol, "spec")
	if spec == nil || spec.Kind != yaml.MappingNode {
		return nil, &FieldError{File: file, Line: sol.Line, Field: "spec", Err: errors.New("the Solution has no spec mapping")}
	}
	value := valueAt(spec, "scale")
	switch {
	case value == nil:
		return nil, &FieldError{File: file, Line: spec.Line, Field: "spec.scale", Err: errors.New("spec.scale is missing; add it to the file before changing it")}
	case value.Kind == yaml.AliasNode:
		return nil, &FieldError{File: file, Line: value.Line, Field: "spec.scale", Err: fmt.Errorf("spec.scale is the alias *%s; write the number in place to change it", value.Value)}
	case value.Kind != yaml.ScalarNode || value.ShortTag() != "!!int" && value.ShortTag() != "!!float":
		return nil, &FieldError{File: file, Line: value.Line, Field: "spec.scale", Err: fmt.Errorf("spec.scale is %s, not a number", describe(value))}
	}
	return value, nil
}

// scalarSpan returns the byte offsets of a plain scalar's text in data,
// from the parser's line and column (which counts characters, not bytes).
func scalarSpan(data []byte, n *yaml.Node) (start, end int, err error) {
	if n.Style != 0 {
		return 0, 0, errors.New("spec.scale is not written as a plain number")
	}
	start = 0
	for line := 1; line < n.Line; line++ {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			return 0, 0, fmt.Errorf("line %d is past the end of the file", n.Line)
		}
		start += i + 1
	}
	for col := 1; col < n.Column; col++ {
		if start >= len(data) || data[start] == '\n' {
			return 0, 0, fmt.Errorf("column %d is past the end of line %d", n.Column, n.Line)
		}
		_, size := utf8.DecodeRune(data[start:])
		start += size
	}
	end = start + len(n.Value)
	if end > len(data) || string(data[start:end]) != n.Value {
		return 0, 0, errors.New("spec.scale is not written as a plain number on one line")
	}
	return start, end, nil
}
