package spec

import (
	"strings"
	"time"
)

// Defaults that the field docs promise.
const (
	defaultExecTimeout    = 5 * time.Minute
	defaultReadyTimeout   = 10 * time.Minute
	defaultScaleDownDelay = 30 * time.Second
	defaultInterval       = time.Minute
	defaultCheckTimeout   = 30 * time.Second
	defaultHTTPStatus     = 200
)

// maxCheckName bounds a derived check name, which shows in status lines.
const maxCheckName = 60

// ApplyDefaults fills in every documented default of a Spec built in Go, treating zero values as omitted.
// Parse applies the same defaults (to omitted fields only). It is idempotent.
func ApplyDefaults(s *Spec) { applyDefaults(s, nil) }

// setDefault sets *p to v if the YAML (src) left path out and *p is still zero.
func setDefault[T comparable](p *T, v T, src *source, path string) {
	var zero T
	if *p == zero && !src.isSet(path) {
		*p = v
	}
}

func applyDefaults(s *Spec, src *source) {
	if b := s.Image.Build; b != nil {
		setDefault(&b.Context, ".", src, "image.build.context")
		setDefault(&b.Dockerfile, "Dockerfile", src, "image.build.dockerfile")
	}
	if x := s.Platform.Exec; x != nil {
		setDefault(&x.Timeout, Duration(defaultExecTimeout), src, "platform.exec.timeout")
		setDefault(&x.ReadyTimeout, Duration(defaultReadyTimeout), src, "platform.exec.readyTimeout")
	}
	if d := s.Platform.Docker; d != nil {
		dockerDefaults(d, src)
	}
	for i := range s.Environments {
		envDefaults(&s.Environments[i], index("environments", i), src)
	}
	metricDefaults(s, src)
	for i := range s.Migrations {
		if c := s.Migrations[i].Contract; c != nil && c.Approval != nil {
			setDefault(&c.Approval.Quorum, 1, src, index("migrations", i)+".contract.approval.quorum")
		}
	}
}

func envDefaults(e *Environment, path string, src *source) {
	g := &e.Gate
	if g.Approval == nil && g.Window == nil {
		g.Auto = true
	}
	if g.Approval != nil {
		setDefault(&g.Approval.Quorum, 1, src, path+".gate.approval.quorum")
	}
	if g.Window != nil {
		setDefault(&g.Window.Timezone, "UTC", src, path+".gate.window.timezone")
	}
	setDefault(&e.Replicas, 1, src, path+".replicas")

	st, sp := &e.Strategy, path+".strategy"
	setDefault(&st.Type, StrategyRolling, src, sp+".type")
	switch st.Type {
	case StrategyRolling:
		setDefault(&st.MaxUnavailable, 1, src, sp+".maxUnavailable")
		setDefault(&st.MaxSurge, 1, src, sp+".maxSurge")
	case StrategyBlueGreen:
		setDefault(&st.ScaleDownDelay, Duration(defaultScaleDownDelay), src, sp+".scaleDownDelay")
	case StrategyCanary:
		// A canary always ends at full weight; a last step below it (or a pause) gets a final 100 % step.
		if n := len(st.Steps); n > 0 && st.Steps[n-1].Weight < 100 {
			st.Steps = append(st.Steps, Step{Weight: 100})
		}
	}
	if a := st.Analysis; a != nil {
		setDefault(&a.Interval, Duration(defaultInterval), src, sp+".analysis.interval")
		checkDefaults(a.Checks, sp+".analysis.checks", src)
		metricAnalysisDefaults(&a.MetricAnalysis, sp+".analysis", src)
	}
	checkDefaults(e.Checks.Smoke, path+".checks.smoke", src)
	checkDefaults(e.Checks.E2E, path+".checks.e2e", src)
	if v := e.Verify; v != nil {
		interval := Duration(defaultInterval)
		if v.Window > 0 {
			interval = min(interval, v.Window)
		}
		setDefault(&v.Interval, interval, src, path+".verify.interval")
		checkDefaults(v.Checks, path+".verify.checks", src)
		metricAnalysisDefaults(&v.MetricAnalysis, path+".verify", src)
	}
}

func checkDefaults(checks []Check, path string, src *source) {
	for i := range checks {
		c, p := &checks[i], index(path, i)
		setDefault(&c.Timeout, Duration(defaultCheckTimeout), src, p+".timeout")
		if c.HTTP != nil {
			setDefault(&c.HTTP.Status, defaultHTTPStatus, src, p+".http.status")
		}
		if c.Name == "" {
			c.Name = checkName(c)
		}
	}
}

// checkName derives a name from the probe: "http GET /healthz" or the exec argv, at most 60 characters.
func checkName(c *Check) string {
	var name string
	switch {
	case c.HTTP != nil:
		target := c.HTTP.Path
		if target == "" {
			target = c.HTTP.URL
		}
		name = "http GET " + target
	case len(c.Exec) > 0:
		name = strings.Join(c.Exec, " ")
	}
	if r := []rune(name); len(r) > maxCheckName {
		name = string(r[:maxCheckName-3]) + "..."
	}
	return name
}
