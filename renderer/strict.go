package renderer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Rules every YAML file a render reads is held to, descriptors and
// kustomize files alike, beyond what the YAML parser itself enforces.

// duplicateKeys returns a FieldError, without a file, for every mapping
// key of doc that repeats an earlier key of the same mapping. YAML forbids
// them, but the parser keeps both and decoders silently take the last,
// so a repeated key hides a value the author meant. Aliases are not
// followed: the nodes they repeat are checked where they are anchored,
// which keeps the walk linear however often an alias is used.
func duplicateKeys(doc *yaml.Node) []*FieldError {
	var errs []*FieldError
	var walk func(n *yaml.Node, field string)
	walk = func(n *yaml.Node, field string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, field)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", field, i))
			}
		case yaml.MappingNode:
			first := make(map[string]int, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				f := join(field, k.Value)
				if k.Kind == yaml.ScalarNode {
					if line, dup := first[k.Value]; dup {
						errs = append(errs, &FieldError{Line: k.Line, Field: f, Err: fmt.Errorf("duplicate key (first at line %d)", line)})
					} else {
						first[k.Value] = k.Line
					}
				}
				walk(n.Content[i+1], f)
			}
		}
	}
	walk(doc, "")
	return errs
}

// checkSyntax reports where data, a YAML or JSON file kustomize reads, is
// malformed, or nil. The budget check, which parses every file first,
// leaves that to kustomize, whose message names a line one too low.
func checkSyntax(file string, data []byte) error {
	if !yamlFile(file) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			line, problem := yamlSyntaxError(err)
			return &FieldError{File: file, Line: line, Err: fmt.Errorf("malformed YAML: %w", problem)}
		}
	}
}

// yamlFile reports whether kustomize reads file as YAML, not as data.
func yamlFile(file string) bool {
	switch path.Ext(file) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return path.Base(file) == "Kustomization"
}

// checkDuplicateKeys refuses a YAML, or JSON, file kustomize reads whose
// documents repeat a mapping key, naming the first repeat. Other files
// (a configMapGenerator's properties, say) are data, not YAML.
func checkDuplicateKeys(file string, docs []*yaml.Node) error {
	if !yamlFile(file) {
		return nil
	}
	for _, doc := range docs {
		if errs := duplicateKeys(doc); len(errs) > 0 {
			errs[0].File = file
			return errs[0]
		}
	}
	return nil
}

// checkUTF8 reports why data, a YAML file, is not UTF-8 text, or nil. The
// YAML parser would accept UTF-16 with a byte order mark, but nothing else
// in a render would see the file's descriptors; and bytes that are not
// UTF-8 at all are a file saved in the wrong encoding.
func checkUTF8(file string, data []byte) *FieldError {
	for _, bom := range []struct {
		prefix []byte
		name   string
	}{
		{[]byte{0x00, 0x00, 0xfe, 0xff}, "UTF-32"},
		{[]byte{0xff, 0xfe, 0x00, 0x00}, "UTF-32"},
		{[]byte{0xfe, 0xff}, "UTF-16"},
		{[]byte{0xff, 0xfe}, "UTF-16"},
	} {
		if bytes.HasPrefix(data, bom.prefix) {
			return &FieldError{File: file, Line: 1, Err: fmt.Errorf("file is %s (it starts with a %s byte order mark); save it as UTF-8", bom.name, bom.name)}
		}
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return &FieldError{File: file, Line: lineAt(data, i), Err: errors.New("file holds a NUL byte, which YAML does not allow; is it UTF-16? save it as UTF-8")}
	}
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return &FieldError{File: file, Line: lineAt(data, i), Err: fmt.Errorf("byte %#x at offset %d is not UTF-8; save the file as UTF-8", data[i], i)}
		}
		i += size
	}
	return nil
}

// lineAt returns the line of data that holds byte offset i.
func lineAt(data []byte, i int) int { return bytes.Count(data[:i], []byte("\n")) + 1 }

var yamlErrorPrefix = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems yaml.v3's parser, rather than its
// scanner, reports. For those it prints the 0-based line of the mark it
// stopped at, where it adds one for the scanner's.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// yamlSyntaxError turns err, from decoding YAML, into the 1-based line it
// is about (0 when unknown) and the problem without the parser's own
// "yaml: line N:" prefix, whose number is one too low for some problems.
func yamlSyntaxError(err error) (int, error) {
	m := yamlErrorPrefix.FindStringSubmatch(err.Error())
	if m == nil {
		// With both marks on the first line the parser names no line.
		if problem, ok := strings.CutPrefix(err.Error(), "yaml: "); ok && yamlParserProblems[problem] {
			return 1, errors.New(problem)
		}
		return 0, err
	}
	line, _ := strconv.Atoi(m[1])
	if yamlParserProblems[m[2]] {
		line++
	}
	return line, errors.New(m[2])
}
