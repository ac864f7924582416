package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Validate checks s against every rule Parse enforces and returns a *Problems listing all that fail, or nil.
// The problems carry paths but no file or line. It does not apply defaults, so a Spec built in Go needs
// ApplyDefaults first; a Spec that came from Parse (for example inside workflow input) validates as is.
func Validate(s *Spec) error { return errOrNil(validate(s, nil)) }

var (
	strategies = []string{StrategyRecreate, StrategyRolling, StrategyBlueGreen, StrategyCanary}
	nameRE     = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)
	envVarRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validator collects problems. With a source (a parsed spec) each problem gets its file and line, and values
// that failed to decode are not reported again.
type validator struct {
	src      *source
	problems []Problem
	seen     map[string]bool
}

func validate(s *Spec, src *source) []Problem {
	v := &validator{src: src, seen: map[string]bool{}}
	v.name("service", s.Service)
	v.image(&s.Image)
	v.platform(s)
	if len(s.Environments) == 0 {
		v.add("environments", "must list at least one environment")
	}
	first := map[string]int{}
	for i := range s.Environments {
		e, p := &s.Environments[i], index("environments", i)
		if j, dup := first[e.Name]; dup && e.Name != "" {
			v.add(p+".name", "duplicate environment %q (also environments[%d])", e.Name, j)
		} else {
			first[e.Name] = i
		}
		v.environment(s, e, p)
		v.historyBudget(e, p)
	}
	v.migrations(s)
	v.metrics(s)
	return v.problems
}

// add records a problem at path, once.
func (v *validator) add(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if v.src.broken(path) || v.seen[path+"\n"+msg] {
		return
	}
	v.seen[path+"\n"+msg] = true
	p := Problem{Path: path, Message: msg}
	if v.src != nil {
		p.File, p.Line = v.src.file, v.src.line(path)
	}
	v.problems = append(v.problems, p)
}

// has reports whether a field holds a value: a non-zero one, or any value written in the YAML (an explicit
// 0 or one that failed to decode), so that "set one of a or b" rules see what the user wrote.
func (v *validator) has(path string, nonzero bool) bool { return nonzero || v.src.isSet(path) }

// exactlyOne checks that one of two alternative fields of the value at path is set.
func (v *validator) exactlyOne(path, a string, hasA bool, b string, hasB bool) {
	switch {
	case hasA && hasB:
		v.add(path, "set %s or %s, not both", a, b)
	case !hasA && !hasB:
		v.add(path, "needs %s or %s", a, b)
	}
}

func (v *validator) name(path, name string) {
	switch {
	case name == "":
		v.add(path, "required")
	case !nameRE.MatchString(name):
		v.add(path, "must be 1..63 lower-case letters, digits or '-', got %s", QuoteValue(name))
	}
}

// positive checks a duration that must be set and greater than zero.
func (v *validator) positive(path string, d Duration) {
	switch {
	case d == 0 && !v.src.isSet(path):
		v.add(path, "required")
	case d <= 0:
		v.add(path, "must be greater than 0, got %s", d)
	}
}

// nonNegative checks a duration where zero means "none". YAML rejects negatives already; Go may not.
func (v *validator) nonNegative(path string, d Duration) {
	if d < 0 {
		v.add(path, "must not be negative, got %s", d)
	}
}

// oneOf checks that got is one of allowed and suggests the closest one when it is not.
func (v *validator) oneOf(path, got string, allowed []string) bool {
	if slices.Contains(allowed, got) {
		return true
	}
	v.add(path, "must be one of %s, got %s%s", strings.Join(allowed, ", "), QuoteValue(got), didYouMean(got, allowed))
	return false
}

func (v *validator) image(img *Image) {
	switch r := img.Repository; {
	case r == "":
		v.add("image.repository", "required")
	case strings.ContainsAny(r, " \t\n@") || strings.Contains(r[strings.LastIndex(r, "/")+1:], ":"):
		v.add("image.repository", "must be a repository without tag or digest (the version is the tag), got %s", QuoteValue(r))
	}
	if b := img.Build; b != nil {
		if b.Context == "" {
			v.add("image.build.context", "required")
		}
		if b.Dockerfile == "" {
			v.add("image.build.dockerfile", "required")
		}
	}
}

// platform checks the platform block; which commands are required depends on the strategies in use.
func (v *validator) platform(s *Spec) {
	if s.Platform.Exec != nil && s.Platform.Docker != nil {
		v.add("platform", "set exec or docker, not both")
	}
	if d := s.Platform.Docker; d != nil {
		v.docker(s, d)
	}
	x := s.Platform.Exec
	if x == nil {
		if s.Platform.Docker == nil {
			v.add("platform", "required (supported: exec, docker)")
		}
		return
	}
	// Commands are shared by all environments, so render them with each one's variables (and config).
	var vars []*templateVars
	for i := range s.Environments {
		vars = append(vars, sampleVars(s, &s.Environments[i]))
	}
	if len(vars) == 0 {
		vars = append(vars, sampleVars(s, &Environment{}))
	}
	trafficUser := v.firstUsing(s, StrategyCanary, StrategyBlueGreen)
	inPlaceUser := v.firstUsing(s, StrategyRecreate, StrategyRolling)
	// Every strategy may remove the new version: canary and blue-green after promotion and in rollback,
	// recreate and rolling when a release fails where nothing ran before (the first one, say).
	removeUser := trafficUser
	if removeUser == "" && inPlaceUser != "" {
		removeUser = inPlaceUser + " (a failed release removes the new version where nothing ran before)"
	}
	commands := []struct {
		name   string
		argv   []string
		needBy string
	}{
		{"deploy", x.Deploy, "always"},
		{"setWeight", x.SetWeight, trafficUser},
		{"promote", x.Promote, trafficUser},
		{"rollback", x.Rollback, inPlaceUser},
		{"remove", x.Remove, removeUser},
		{"ready", x.Ready, ""},
		{"current", x.Current, ""},
	}
	for _, c := range commands {
		p := "platform.exec." + c.name
		switch {
		case v.has(p, len(c.argv) > 0):
			v.argv(p, c.argv, vars...)
		case c.needBy == "always":
			v.add(p, "required")
		case c.needBy != "":
			v.add(p, "required because %s", c.needBy)
		}
	}
	v.positive("platform.exec.timeout", x.Timeout)
	v.positive("platform.exec.readyTimeout", x.ReadyTimeout)
}

// firstUsing names the first environment whose strategy is one of types, as "environments[1] (production)
// uses canary", or returns "". A strategy that did not decode (a typo defaulted it) counts for nothing.
func (v *validator) firstUsing(s *Spec, types ...string) string {
	for i, e := range s.Environments {
		if slices.Contains(types, e.Strategy.Type) && !v.src.broken(index("environments", i)+".strategy") {
			return fmt.Sprintf("environments[%d] (%s) uses %s", i, e.Name, e.Strategy.Type)
		}
	}
	return ""
}

// argv checks a command line: not empty, a command first, and every element a valid template for each of
// vars.
func (v *validator) argv(path string, args []string, vars ...*templateVars) {
	if len(args) == 0 {
		v.add(path, "must not be empty")
		return
	}
	if strings.TrimSpace(args[0]) == "" {
		v.add(index(path, 0), "must name a command")
	}
	for i, a := range args {
		if usesTrackURL(a) {
			v.add(index(path, i), "{{.TrackURL}} is known only in http checks")
			continue
		}
		for _, tv := range vars {
			v.template(index(path, i), a, tv)
		}
	}
}

// template checks that text renders against vars and returns the output, and whether it rendered.
func (v *validator) template(path, text string, vars *templateVars) (string, bool) {
	out, msg := render(text, vars)
	if msg != "" {
		v.add(path, "%s", msg)
		return "", false
	}
	return out, true
}

func (v *validator) environment(s *Spec, e *Environment, p string) {
	v.name(p+".name", e.Name)
	v.gate(&e.Gate, p+".gate")
	if e.Replicas < 1 {
		v.add(p+".replicas", "must be at least 1, got %d", e.Replicas)
	}
	v.strategy(&e.Strategy, p+".strategy")
	for _, k := range sortedKeys(e.Config) {
		if !envVarRE.MatchString(k) {
			v.add(p+".config."+k, "must be an environment variable name (letters, digits, '_', not starting with a digit)")
		}
	}
	v.secrets(e, p)
	vars := sampleVars(s, e)
	if e.URL != "" {
		v.absoluteURL(p+".url", e.URL, vars)
	}
	env := checkEnv{env: e, path: p, vars: vars}
	if a := e.Strategy.Analysis; a != nil {
		v.checks(p+".strategy.analysis.checks", a.Checks, env, len(a.Metrics) == 0)
		fullWeight := ""
		if e.Strategy.Type == StrategyBlueGreen {
			fullWeight = "blue-green analysis runs after the switch"
		}
		v.metricAnalysis(s, &a.MetricAnalysis, p+".strategy.analysis", fullWeight)
		for i, step := range e.Strategy.Steps {
			v.measuredWindow(index(p+".strategy.steps", i)+".bake", step.Bake, &a.MetricAnalysis, a.Interval, "analysis")
		}
		v.fullWeightComparisons(s, &e.Strategy, p+".strategy")
	}
	v.checks(p+".checks.smoke", e.Checks.Smoke, env, false)
	v.checks(p+".checks.e2e", e.Checks.E2E, env, false)
	if vf := e.Verify; vf != nil {
		vp := p + ".verify"
		v.positive(vp+".window", vf.Window)
		v.positive(vp+".interval", vf.Interval)
		if vf.Window > 0 && vf.Interval > vf.Window {
			v.add(vp+".interval", "must not exceed window %s, got %s", vf.Window, vf.Interval)
		}
		v.checks(vp+".checks", vf.Checks, env, len(vf.Metrics) == 0)
		v.metricAnalysis(s, &vf.MetricAnalysis, vp, "verification runs once the new version serves all traffic")
		v.measuredWindow(vp+".window", vf.Window, &vf.MetricAnalysis, vf.Interval, "verify")
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (v *validator) strategy(st *Strategy, p string) {
	if !v.oneOf(p+".type", st.Type, strategies) {
		return // the rules below depend on the type
	}
	only := func(field string, present bool, types ...string) {
		if present && !slices.Contains(types, st.Type) {
			v.add(p+"."+field, "only valid for %s, not %s", strings.Join(types, " or "), st.Type)
		}
	}
	only("maxUnavailable", v.has(p+".maxUnavailable", st.MaxUnavailable != 0), StrategyRolling)
	only("maxSurge", v.has(p+".maxSurge", st.MaxSurge != 0), StrategyRolling)
	only("scaleDownDelay", v.has(p+".scaleDownDelay", st.ScaleDownDelay != 0), StrategyBlueGreen)
	only("steps", v.has(p+".steps", len(st.Steps) > 0), StrategyCanary)
	only("analysis", st.Analysis != nil, StrategyCanary, StrategyBlueGreen)

	if st.MaxUnavailable < 0 {
		v.add(p+".maxUnavailable", "must not be negative, got %d", st.MaxUnavailable)
	}
	if st.MaxSurge < 0 {
		v.add(p+".maxSurge", "must not be negative, got %d", st.MaxSurge)
	}
	if st.Type == StrategyRolling && st.MaxUnavailable == 0 && st.MaxSurge == 0 {
		v.add(p, "maxUnavailable and maxSurge cannot both be 0")
	}
	v.nonNegative(p+".scaleDownDelay", st.ScaleDownDelay)
	if st.Type == StrategyCanary && len(st.Steps) == 0 {
		v.add(p+".steps", "canary needs at least one step")
	}
	v.steps(st.Steps, p+".steps")
	if a := st.Analysis; a != nil {
		v.positive(p+".analysis.interval", a.Interval)
		if a.FailureLimit < 0 {
			v.add(p+".analysis.failureLimit", "must not be negative, got %d", a.FailureLimit)
		}
	}
}

func (v *validator) steps(steps []Step, path string) {
	last := 0
	for i, st := range steps {
		p := index(path, i)
		hasWeight := v.has(p+".weight", st.Weight != 0)
		hasPause := v.has(p+".pause", st.Pause != nil)
		v.exactlyOne(p, "weight", hasWeight, "pause", hasPause)
		if hasPause && !hasWeight && v.has(p+".bake", st.Bake != 0) {
			v.add(p+".bake", "only valid with weight; a pause step waits for pause.duration")
		}
		switch {
		case !hasWeight:
		case st.Weight < 1 || st.Weight > 100:
			v.add(p+".weight", "must be 1..100, got %d", st.Weight)
		case st.Weight < last:
			v.add(p+".weight", "must not decrease, got %d after %d", st.Weight, last)
		default:
			last = st.Weight
		}
		v.nonNegative(p+".bake", st.Bake)
		if st.Pause != nil {
			v.nonNegative(p+".pause.duration", st.Pause.Duration)
		}
	}
}
