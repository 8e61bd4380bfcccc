package renderer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem with a repository, located as precisely as the
// input allows: the file, the line (0 when unknown) and the field path
// within the descriptor (empty when the whole file is at fault).
type FieldError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// ValidationError lists every problem found in a repository, in file and
// line order, so that one run of "tandem validate" shows them all.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, for errors.Is and errors.As.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// problems collects FieldErrors and warnings while a repository is read.
type problems struct {
	errs     []*FieldError
	warnings []string
	warned   map[string]bool // by file and field, for warnOnce
}

func (p *problems) add(file string, pos positions, field string, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{File: file, Line: pos.line(field), Field: field, Err: fmt.Errorf(format, args...)})
}

func (p *problems) addErr(file string, pos positions, field string, err error) {
	p.errs = append(p.errs, &FieldError{File: file, Line: pos.line(field), Field: field, Err: err})
}

func (p *problems) warn(file string, pos positions, field string, format string, args ...any) {
	p.warnings = append(p.warnings, (&FieldError{File: file, Line: pos.line(field), Field: field, Err: fmt.Errorf(format, args...)}).Error())
}

// warnOnce warns as warn does, the first time only for a file's field: a
// rule that gives too many replicas at a hundred sites is one warning.
func (p *problems) warnOnce(file string, pos positions, field string, format string, args ...any) {
	key := file + "\x00" + field
	if p.warned[key] {
		return
	}
	if p.warned == nil {
		p.warned = map[string]bool{}
	}
	p.warned[key] = true
	p.warn(file, pos, field, format, args...)
}

// err returns the collected errors as a *ValidationError, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := slices.Clone(p.errs)
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	return &ValidationError{Errors: errs}
}
