package spec

import (
	"net/url"
	"regexp"
	"strings"
)

// checkEnv is what a check's validation needs from its environment: the base URL relative paths join, and
// the template variables.
type checkEnv struct {
	env  *Environment
	path string
	vars *templateVars
}

func (v *validator) checks(path string, checks []Check, env checkEnv, required bool) {
	if required && len(checks) == 0 {
		v.add(path, "must list at least one check, or name metrics")
	}
	for i := range checks {
		v.check(&checks[i], index(path, i), env)
	}
}

func (v *validator) check(c *Check, p string, env checkEnv) {
	hasHTTP := v.has(p+".http", c.HTTP != nil)
	hasExec := v.has(p+".exec", len(c.Exec) > 0)
	v.exactlyOne(p, "http", hasHTTP, "exec", hasExec)
	if c.HTTP != nil {
		v.http(c.HTTP, p+".http", env)
	}
	if hasExec {
		v.argv(p+".exec", c.Exec, env.vars)
	}
	v.positive(p+".timeout", c.Timeout)
}

func (v *validator) http(h *HTTPCheck, p string, env checkEnv) {
	hasURL := v.has(p+".url", h.URL != "")
	hasPath := v.has(p+".path", h.Path != "")
	v.exactlyOne(p, "url", hasURL, "path", hasPath)
	if usesTrackURL(h.URL+h.Path+env.env.URL) && env.vars.TrackURL == "" {
		v.add(p, "{{.TrackURL}} needs a platform whose checks reach a track's replicas (docker)")
		return
	}
	if hasURL {
		v.absoluteURL(p+".url", h.URL, env.vars)
	}
	if hasPath {
		if env.env.URL == "" {
			v.add(p+".path", "needs the environment's url (%s.url) to join", env.path)
		}
		if out, ok := v.template(p+".path", h.Path, env.vars); ok && !strings.HasPrefix(out, "/") {
			v.add(p+".path", "must start with /, got %s", QuoteValue(h.Path))
		}
	}
	if h.Status < 100 || h.Status > 599 {
		v.add(p+".status", "must be 100..599, got %d", h.Status)
	}
	if _, err := regexp.Compile(h.Body); err != nil {
		v.add(p+".body", "bad regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
}

// absoluteURL checks a templated URL that must render to an absolute http or https URL.
func (v *validator) absoluteURL(path, text string, vars *templateVars) {
	out, ok := v.template(path, text, vars)
	if !ok {
		return
	}
	u, err := url.Parse(out)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, "must be an absolute http or https URL, got %s", QuoteValue(text))
	}
}
