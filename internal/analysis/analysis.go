// Package analysis judges measurements: a value against a threshold, a canary's samples against a
// baseline's, a canary's throughput against the baseline's, and a round of comparisons as a 0..100 score.
// It is pure: no I/O and no clock, so workflows and activities may both call it.
package analysis

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
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

// Evaluate judges the values of one measurement against t, with Argo Rollouts' rules for values: a failure
// condition that holds fails, then a success condition that holds succeeds; with only a success condition
// anything else fails, with only a failure condition anything else succeeds, and with both (or neither)
// anything else is inconclusive.
//
// No value is ever a pass. An empty result, NaN (0/0: no traffic) and -Inf are no value: such a measurement
// is inconclusive under every form, min and max included, unless a condition holds that names the case
// (isNaN(...), isInf(...) or len(result), as in len(result) == 0 || result[0] < 0.01); a condition that
// holds on no value without naming it (-Inf < 0.95) is inconclusive too. +Inf (a
// histogram_quantile above the largest bucket, x/0) is a value that fails a max and a condition it meets,
// but passes nothing by itself: it meets a min or a success condition only through a condition that names
// it, and otherwise is inconclusive where the rules above would pass it.
func Evaluate(t Threshold, values []float64) (Verdict, string) {
	if t.Min != nil || t.Max != nil {
		return evaluateBounds(t.Min, t.Max, values)
	}
	if t.SuccessCondition == "" && t.FailureCondition == "" {
		return Inconclusive, "no condition to judge by"
	}
	missing, infinite := classify(values)
	if src := t.FailureCondition; src != "" {
		held, err := holds(src, values)
		if err != nil {
			return Error, "failureCondition: " + err.Error()
		}
		switch {
		case held && (missing == "" || namesSpecialValues(src)):
			return Failed, fmt.Sprintf("%s meets failureCondition %s", show(values), src)
		case held:
			return Inconclusive, fmt.Sprintf("%s meets failureCondition %s, but it is %s; a condition that judges it "+
				"names it: isNaN(...), isInf(...), len(result)", show(values), src, missing)
		}
	}
	if src := t.SuccessCondition; src != "" {
		held, err := holds(src, values)
		if err != nil {
			return Error, "successCondition: " + err.Error()
		}
		switch {
		case held && (missing == "" && !infinite || namesSpecialValues(src)):
			return Successful, fmt.Sprintf("%s meets successCondition %s", show(values), src)
		case held:
			return Inconclusive, fmt.Sprintf("%s meets successCondition %s only because it is not a finite number "+
				"(%s); a condition that accepts it names it: isNaN(...), isInf(...), len(result)", show(values), src, orInf(missing))
		}
	}
	switch {
	case missing != "":
		return Inconclusive, fmt.Sprintf("%s: %s, which no condition judged", show(values), missing)
	case t.SuccessCondition != "" && t.FailureCondition != "":
		return Inconclusive, fmt.Sprintf("%s meets neither condition", show(values))
	case t.SuccessCondition != "":
		return Failed, fmt.Sprintf("%s does not meet successCondition %s", show(values), t.SuccessCondition)
	case infinite:
		return Inconclusive, fmt.Sprintf("%s does not meet failureCondition %s, but +Inf passes nothing by itself", show(values), t.FailureCondition)
	}
	return Successful, fmt.Sprintf("%s does not meet failureCondition %s", show(values), t.FailureCondition)
}

// evaluateBounds judges one value against min and max.
func evaluateBounds(lo, hi *float64, values []float64) (Verdict, string) {
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
	case math.IsInf(v, -1):
		return Inconclusive, "the value is -Inf, which no bound judges"
	case hi != nil && v > *hi:
		return Failed, fmt.Sprintf("%s is above max %s", num(v), num(*hi))
	case math.IsInf(v, 1):
		return Inconclusive, fmt.Sprintf("the value is +Inf, which no min passes by itself (%s)", bounds(lo, hi))
	case lo != nil && v < *lo:
		return Failed, fmt.Sprintf("%s is below min %s", num(v), num(*lo))
	}
	return Successful, fmt.Sprintf("%s is within %s", num(v), bounds(lo, hi))
}

// classify says why values hold no value (no data, NaN, -Inf; "" when every value is a number) and whether
// one is +Inf.
func classify(values []float64) (missing string, infinite bool) {
	if len(values) == 0 {
		return "no data", false
	}
	for _, v := range values {
		switch {
		case math.IsNaN(v) && missing == "":
			missing = "not a number (no data in the window?)"
		case math.IsInf(v, -1) && missing == "":
			missing = "-Inf"
		case math.IsInf(v, 1):
			infinite = true
		}
	}
	return missing, infinite
}

func orInf(missing string) string {
	if missing == "" {
		return "+Inf"
	}
	return missing
}

// specialValueRE matches a condition that says what no value means: it tests for NaN or infinity, or looks at
// how many values there are.
var specialValueRE = regexp.MustCompile(`\b(isNaN|isInf|len)\s*\(`)

func namesSpecialValues(src string) bool { return specialValueRE.MatchString(src) }

// holds compiles src and runs it against values. A condition over one number does not hold on an empty
// result; one over the list runs, and may fail to index it.
func holds(src string, values []float64) (bool, error) {
	c, err := CompileCondition(src)
	if err != nil {
		return false, err
	}
	if !c.list && len(values) == 0 {
		return false, nil
	}
	return c.Eval(values)
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
