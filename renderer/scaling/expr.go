package scaling

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Site is what an expression knows of the place it computes replicas for,
// as the variable site. For a workload of a cluster tier it is the value
// with an empty name, weight 1 and no labels or capacity.
type Site struct {
	// Name is the site's name.
	Name string `cel:"name"`
	// Labels are the site's labels.
	Labels map[string]string `cel:"labels"`
	// Weight is the site's relative capacity.
	Weight float64 `cel:"weight"`
	// Capacity is what the site's machines can run, per resource, as a
	// number: cpu in cores, memory and storage in bytes, others as given.
	Capacity map[string]float64 `cel:"capacity"`
}

// cluster is the site a rule of a cluster tier sees.
var cluster = Site{Weight: 1}

// costLimit bounds the work one evaluation of an expression may do, in
// CEL's cost units (about one per operation), so that an expression that
// loops over nested lists fails instead of stalling a render of every site.
const costLimit = 10_000

// Expr is a compiled replica expression: CEL that computes a workload's
// replicas from scale, site and replicas, the counts of other rules'
// workloads keyed "tier/workload". Build it with CompileExpr; it is safe
// for concurrent use.
type Expr struct {
	prg      cel.Program
	reads    []read // the replicas entries it reads, in the order they appear
	usesSite bool
}

// read is one replicas["tier/workload"] in an expression, where it appears.
type read struct {
	ref          Ref
	line, column int
}

// ExprError is a problem with an expression, at the line and column of
// the expression's text (both from 1) that CEL points at. Either is 0 when
// CEL does not know it, as for an expression nested too deep to parse.
type ExprError struct {
	Line, Column int
	Msg          string
}

func (e *ExprError) Error() string {
	switch {
	case e.Line < 1:
		return e.Msg
	case e.Column < 1:
		return fmt.Sprintf("%d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg)
}

// exprEnv is the one CEL environment of replica expressions.
var exprEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Site](), ext.ParseStructTags(true)),
		cel.OptionalTypes(),
		cel.Variable("scale", cel.DoubleType),
		cel.Variable("site", cel.ObjectType("scaling.Site")),
		cel.Variable("replicas", cel.MapType(cel.StringType, cel.DoubleType)),
	)
})

// CompileExpr parses and type-checks src, a CEL expression that returns
// an int, uint or double. Every replicas entry it reads must be a constant
// "tier/workload" key, so that New knows which rules it follows. Each
// problem is an *ExprError; several are joined with errors.Join.
func CompileExpr(src string) (*Expr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &ExprError{Line: 1, Column: 1, Msg: "expression is empty"}
	}
	env, err := exprEnv()
	if err != nil {
		return nil, fmt.Errorf("replica expression environment: %w", err)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		errs := make([]error, len(iss.Errors()))
		for i, e := range iss.Errors() {
			errs[i] = &ExprError{Line: max(e.Location.Line(), 0), Column: max(e.Location.Column()+1, 0), Msg: strings.TrimSuffix(e.Message, " (in container '')")}
		}
		return nil, errors.Join(errs...)
	}
	native := checked.NativeRep()
	at := func(id int64) (int, int) {
		loc := native.SourceInfo().GetStartLocation(id)
		return loc.Line(), loc.Column() + 1
	}
	switch t := checked.OutputType(); t.Kind() {
	case types.IntKind, types.UintKind, types.DoubleKind, types.DynKind:
	default:
		line, col := at(native.Expr().ID())
		return nil, &ExprError{Line: line, Column: col, Msg: fmt.Sprintf("expression gives a %s; it must give a number (int, uint or double)", t)}
	}
	e := &Expr{}
	errs := e.collectReads(native.Expr(), at)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	e.prg, err = env.Program(checked, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("plan expression: %w", err)
	}
	return e, nil
}

// collectReads records the replicas entries and whether site is read in
// root, and returns an *ExprError for every use of replicas other than an
// index with a constant "tier/workload" key.
func (e *Expr) collectReads(root ast.Expr, at func(int64) (int, int)) []error {
	indexed := map[int64]bool{} // replicas identifiers read with a constant key
	var errs []error
	ast.PreOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.CallKind {
			return
		}
		call := x.AsCall()
		if fn := call.FunctionName(); (fn != operators.Index && fn != operators.OptIndex) || len(call.Args()) != 2 {
			return
		}
		operand, key := call.Args()[0], call.Args()[1]
		if operand.Kind() != ast.IdentKind || operand.AsIdent() != "replicas" || key.Kind() != ast.LiteralKind {
			return
		}
		s, ok := key.AsLiteral().(types.String)
		if !ok {
			return
		}
		indexed[operand.ID()] = true
		line, col := at(key.ID())
		r, err := ParseRef(string(s))
		if err != nil {
			errs = append(errs, &ExprError{Line: line, Column: col, Msg: "replicas key " + err.Error()})
			return
		}
		e.reads = append(e.reads, read{ref: r, line: line, column: col})
	}))
	ast.PreOrderVisit(root, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.IdentKind {
			return
		}
		switch x.AsIdent() {
		case "site":
			e.usesSite = true
		case "replicas":
			if !indexed[x.ID()] {
				line, col := at(x.ID())
				errs = append(errs, &ExprError{Line: line, Column: col, Msg: `replicas can only be read as replicas["tier/workload"], with a constant key`})
			}
		}
	}))
	return errs
}

// eval runs e for the rule of workload w and returns the replicas it asks
// for, rounded up: a double is read to 15 significant digits, the
// precision of its type, so that the rounding of double arithmetic
// (30 × 0.1 is 3.0000000000000004) does not add a replica.
func (e *Expr) eval(w Ref, scale float64, site *Site, replicas map[string]float64) (*big.Int, error) {
	out, _, err := e.prg.Eval(map[string]any{"scale": scale, "site": *site, "replicas": replicas})
	var cancelled interpreter.EvalCancelledError
	switch {
	case errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded:
		return nil, fmt.Errorf("expr of %s stopped at the cost limit of %d (about one unit per operation); it must do less work", w, costLimit)
	case err != nil:
		return nil, fmt.Errorf("expr of %s failed: %w", w, err)
	}
	var q big.Rat
	switch v := out.(type) {
	case types.Int:
		q.SetInt64(int64(v))
	case types.Uint:
		q.SetUint64(uint64(v))
	case types.Double:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, notACount(w, out)
		}
		q.SetString(strconv.FormatFloat(float64(v), 'g', 15, 64))
	default:
		return nil, fmt.Errorf("expr of %s gives a %s; it must give a number (int, uint or double)", w, out.Type().TypeName())
	}
	if q.Sign() < 0 {
		return nil, notACount(w, out)
	}
	return ceilRat(&q), nil
}

func notACount(w Ref, v ref.Val) error {
	return fmt.Errorf("expr of %s gives %v, not a replica count: a finite number ≥ 0", w, v.Value())
}
