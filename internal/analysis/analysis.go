// Package analysis judges measurements: a value against a threshold, a canary's samples against a
// baseline's, a canary's throughput against the baseline's, and a round of comparisons as a 0..100 score.
// It is pure: no I/O and no clock, so workflows and activities may both call it.
package analysis

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Verdict is the outcome of one measurement, with Argo Rollouts' meanings.
type Verdict string

const (
	// Successful passes.
	Successful Verdict = "successful"
	// Failed counts against the failure limit.
	Failed Verdict = "failed"
	// Inconclusive is neither: no data, or a value between the success and failure conditions. It counts
	// against the inconclusive limit, past which a person decides.
	Inconclusive Verdict = "inconclusive"
	// Error is a measurement that could not be taken or judged. It counts against the consecutive error
	// limit.
	Error Verdict = "error"
)

// Threshold judges a value metric. Min and Max are a shorthand for the common conditions; a Threshold sets
// them or the conditions, not both (Check enforces it).
type Threshold struct {
	Min, Max         *float64
	SuccessCondition string
	FailureCondition string
}

// Check reports what is wrong with t: a condition that does not compile, or bounds mixed with conditions.
// The errors name the field.
func (t Threshold) Check() error {
	if (t.Min != nil || t.Max != nil) && (t.SuccessCondition != "" || t.FailureCondition != "") {
		return fmt.Errorf("set min/max or successCondition/failureCondition, not both")
	}
	if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
		return fmt.Errorf("min %s is greater than max %s", num(*t.Min), num(*t.Max))
	}
	for _, c := range []struct{ field, src string }{
		{"successCondition", t.SuccessCondition}, {"failureCondition", t.FailureCondition},
	} {
		if c.src == "" {
			continue
		}
		if _, err := CompileCondition(c.src); err != nil {
			return fmt.Errorf("%s: %w", c.field, err)
		}
	}
	return nil
}

// Condition is a compiled successCondition or failureCondition: an expression over result with the syntax of
// github.com/expr-lang/expr. result is the query's value (result >= 0.95) or, when the expression indexes it
// or takes its length as Argo Rollouts' examples do (result[0] >= 0.95, len(result) == 0), the list of the
// values of every series the query returned.
type Condition struct {
	program *vm.Program
	list    bool
}

// conditionFuncs are the helpers Argo Rollouts offers in conditions that make sense for numbers.
var conditionFuncs = []expr.Option{
	expr.Function("isNaN", func(p ...any) (any, error) { return math.IsNaN(p[0].(float64)), nil }, new(func(float64) bool)),
	expr.Function("isInf", func(p ...any) (any, error) { return math.IsInf(p[0].(float64), 0), nil }, new(func(float64) bool)),
	expr.Function("asFloat", func(p ...any) (any, error) { return toFloat(p[0]) }, new(func(any) float64)),
	expr.Function("asInt", func(p ...any) (any, error) {
		f, err := toFloat(p[0])
		return int64(f), err
	}, new(func(any) int64)),
}

func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case string:
		return strconv.ParseFloat(x, 64)
	}
	return 0, fmt.Errorf("cannot convert %v to a number", v)
}

// CompileCondition compiles src as a boolean expression over result, as a number if it type-checks that way,
// otherwise as a list of numbers.
func CompileCondition(src string) (*Condition, error) {
	compile := func(result any) (*vm.Program, error) {
		opts := append([]expr.Option{expr.Env(map[string]any{"result": result}), expr.AsBool()}, conditionFuncs...)
		return expr.Compile(src, opts...)
	}
	p, err := compile(0.0)
	if err == nil {
		return &Condition{program: p}, nil
	}
	if p, listErr := compile([]float64{}); listErr == nil {
		return &Condition{program: p, list: true}, nil
	}
	return nil, err
}

// Eval runs the condition against the values of a measurement. A condition over one number needs exactly
// one value.
func (c *Condition) Eval(values []float64) (bool, error) {
	var result any = values
	if !c.list {
		if len(values) != 1 {
			return false, fmt.Errorf("the query returned %d values where the condition needs one (use result[i] for several)", len(values))
		}
		result = values[0]
	}
	out, err := expr.Run(c.program, map[string]any{"result": result})
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition gave %v (%s), not true or false", out, reflect.TypeOf(out))
	}
	return b, nil
}

// Evaluate judges the values of one measurement against t, with Argo Rollouts' rules: a failure condition
// that holds fails, then a success condition that holds succeeds; with only a success condition anything
// else fails, with only a failure condition anything else succeeds, and with both (or neither) anything else
// is inconclusive. A measurement without values is inconclusive unless a condition over the list of values
// says otherwise; a value that is not a number is inconclusive against min and max.
func Evaluate(t Threshold, values []float64) (Verdict, string) {
	if t.Min != nil || t.Max != nil {
		switch {
		case len(values) == 0:
			return Inconclusive, "no data"
		case len(values) > 1:
			return Error, fmt.Sprintf("the query returned %d values where min and max need one", len(values))
		}
		v := values[0]
		switch {
		case math.IsNaN(v):
			return Inconclusive, "the value is not a number (no data in the window?)"
		case t.Min != nil && v < *t.Min:
			return Failed, fmt.Sprintf("%s is below min %s", num(v), num(*t.Min))
		case t.Max != nil && v > *t.Max:
			return Failed, fmt.Sprintf("%s is above max %s", num(v), num(*t.Max))
		}
		return Successful, fmt.Sprintf("%s is within %s", num(v), bounds(t.Min, t.Max))
	}
	if t.SuccessCondition == "" && t.FailureCondition == "" {
		return Inconclusive, "no condition to judge by"
	}
	run := func(src string) (held bool, list bool, err error) {
		c, err := CompileCondition(src)
		if err != nil {
			return false, false, err
		}
		if !c.list && len(values) == 0 {
			return false, false, nil
		}
		held, err = c.Eval(values)
		return held, c.list, err
	}
	var lists bool
	if src := t.FailureCondition; src != "" {
		held, list, err := run(src)
		if err != nil {
			return Error, "failureCondition: " + err.Error()
		}
		lists = lists || list
		if held {
			return Failed, fmt.Sprintf("%s meets failureCondition %s", show(values), src)
		}
	}
	if src := t.SuccessCondition; src != "" {
		held, list, err := run(src)
		if err != nil {
			return Error, "successCondition: " + err.Error()
		}
		lists = lists || list
		if held {
			return Successful, fmt.Sprintf("%s meets successCondition %s", show(values), src)
		}
	}
	if len(values) == 0 && !lists {
		return Inconclusive, "no data"
	}
	switch {
	case t.SuccessCondition != "" && t.FailureCondition != "":
		return Inconclusive, fmt.Sprintf("%s meets neither condition", show(values))
	case t.SuccessCondition != "":
		return Failed, fmt.Sprintf("%s does not meet successCondition %s", show(values), t.SuccessCondition)
	}
	return Successful, fmt.Sprintf("%s does not meet failureCondition %s", show(values), t.FailureCondition)
}

// num formats a value compactly: 0.012, 3, 1.5e-07.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func show(values []float64) string {
	switch len(values) {
	case 0:
		return "no data"
	case 1:
		return num(values[0])
	}
	s := "["
	for i, v := range values {
		if i == 3 {
			return s + fmt.Sprintf(", ... %d values]", len(values))
		}
		if i > 0 {
			s += ", "
		}
		s += num(v)
	}
	return s + "]"
}

func bounds(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("[%s, %s]", num(*lo), num(*hi))
	case lo != nil:
		return "min " + num(*lo)
	}
	return "max " + num(*hi)
}
