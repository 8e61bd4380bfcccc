package renderer

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// positions maps a field path ("spec.tiers[1].path") to the line that
// declares it.
type positions map[string]int

// line returns the line of field, or of its nearest declared parent, or 0.
func (p positions) line(field string) int {
	for {
		if l, ok := p[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return 0
		}
		field = field[:i]
	}
}

// has reports whether field is declared in the document.
func (p positions) has(field string) bool {
	_, ok := p[field]
	return ok
}

// decodeStrict decodes a YAML document into v, a pointer to a descriptor.
// Unlike a plain decode it refuses fields v has no place for and scalars of
// the wrong type (an unquoted version 1.10 is a float, not the string
// "1.10"), and it records where each field was declared. It returns every
// problem it finds, each with its field path and line.
func decodeStrict(doc *yaml.Node, v any) (positions, []*FieldError) {
	d := &strictDecoder{pos: positions{}}
	plain := d.walk(doc, reflect.TypeOf(v).Elem(), "")
	if len(d.errs) > 0 {
		return d.pos, d.errs
	}
	data, err := json.Marshal(plain)
	if err == nil {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		return d.pos, []*FieldError{{Line: doc.Line, Err: err}}
	}
	return d.pos, nil
}

type strictDecoder struct {
	pos  positions
	errs []*FieldError
}

func (d *strictDecoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Line: n.Line, Field: path, Err: fmt.Errorf(format, args...)})
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	durationType    = reflect.TypeFor[metav1.Duration]()
)

// walk checks n against t and returns n as plain JSON-ready values.
func (d *strictDecoder) walk(n *yaml.Node, t reflect.Type, path string) any {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	if path != "" {
		if _, seen := d.pos[path]; !seen {
			d.pos[path] = n.Line
		}
	}
	if n.Tag == "!!null" && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice ||
		t.Kind() == reflect.Map || t.Kind() == reflect.Struct || t.Kind() == reflect.Interface) {
		return nil
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "want a duration such as 90s or 2m, got %s", describe(n))
			return nil
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			d.fail(n, path, "want a duration such as 90s or 2m, got %q", n.Value)
			return nil
		}
		return n.Value
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Kind() == reflect.Interface {
		var plain any
		if err := n.Decode(&plain); err != nil {
			d.fail(n, path, "%v", err)
			return nil
		}
		// Check the value here, where its line and field are known, not
		// in the decode of the whole document.
		data, err := json.Marshal(plain)
		if err == nil && t.Kind() != reflect.Interface {
			err = json.Unmarshal(data, reflect.New(t).Interface())
		}
		if err != nil {
			d.fail(n, path, "%v", err)
			return nil
		}
		return plain
	}
	switch t.Kind() {
	case reflect.Pointer:
		return d.walk(n, t.Elem(), path)
	case reflect.Struct:
		return d.walkStruct(n, t, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", describe(n))
			return nil
		}
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			out[k.Value] = d.walk(v, t.Elem(), join(path, k.Value))
		}
		return out
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return nil
		}
		out := make([]any, len(n.Content))
		for i, item := range n.Content {
			out[i] = d.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		return out
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			d.fail(n, path, "want a string, got %s (quote it)", describe(n))
			return nil
		}
		return n.Value
	case reflect.Bool:
		return d.scalar(n, path, "a boolean", new(bool), "!!bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var x int64
		v := d.scalar(n, path, "an integer", &x, "!!int")
		if v != nil && reflect.New(t).Elem().OverflowInt(x) {
			d.fail(n, path, "%d is out of range", x)
			return nil
		}
		return v
	case reflect.Float32, reflect.Float64:
		v := d.scalar(n, path, "a number", new(float64), "!!int", "!!float")
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			d.fail(n, path, "want a finite number, got %s", n.Value)
			return nil
		}
		return v
	default:
		d.fail(n, path, "unsupported field type %s", t)
		return nil
	}
}

// scalar decodes n into dst when n's tag is one of tags.
func (d *strictDecoder) scalar(n *yaml.Node, path, want string, dst any, tags ...string) any {
	for _, tag := range tags {
		if n.Kind == yaml.ScalarNode && n.Tag == tag {
			if err := n.Decode(dst); err != nil {
				d.fail(n, path, "%v", err)
				return nil
			}
			return reflect.ValueOf(dst).Elem().Interface()
		}
	}
	d.fail(n, path, "want %s, got %s", want, describe(n))
	return nil
}

func (d *strictDecoder) walkStruct(n *yaml.Node, t reflect.Type, path string) any {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return nil
	}
	fields := jsonFields(t)
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		ft, ok := fields[k.Value]
		if !ok {
			d.fail(k, field, "unknown field %q", k.Value)
			continue
		}
		d.pos[field] = k.Line
		out[k.Value] = d.walk(v, ft, field)
	}
	return out
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields returns the JSON field names of struct type t and their types,
// with inlined structs flattened, as encoding/json sees them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case name == "-" || (!sf.IsExported() && !sf.Anonymous):
		case sf.Anonymous && name == "" || opts == "inline":
			for k, v := range jsonFields(sf.Type) {
				fields[k] = v
			}
		case name == "":
			fields[sf.Name] = sf.Type
		default:
			fields[name] = sf.Type
		}
	}
	fieldCache.Store(t, fields)
	return fields
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a node's YAML type for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), n.Value)
}
