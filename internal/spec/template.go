package spec

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"text/template"
)

// templateVars mirrors the variables platform commands, checks and URLs are rendered with at run time
// (activities.TemplateVars, which this package cannot import). Validation renders every templated string
// against sample values so that a typo such as {{.Verison}} fails at `ferry validate`, not mid-release.
type templateVars struct {
	Service        string
	Env            string
	Version        string
	GitSHA         string
	Image          string
	ImageTag       string
	Digest         string
	Track          string
	Weight         int
	Replicas       int
	Strategy       string
	MaxUnavailable int
	MaxSurge       int
	StableVersion  string
	StableImage    string
	Config         map[string]string
	// TrackURL is set for http checks on a platform that reaches a track's replicas (docker) only.
	TrackURL string
}

// templateVarNames lists the variables as written in a template: .Service, .Env, ...
var templateVarNames = func() []string {
	t := reflect.TypeFor[templateVars]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = "." + t.Field(i).Name
	}
	return names
}()

// sampleVars returns plausible values for env; for commands shared by all environments, call it per env.
func sampleVars(s *Spec, e *Environment) *templateVars {
	return &templateVars{
		Service:        orDefault(s.Service, "service"),
		Env:            orDefault(e.Name, "env"),
		Version:        "1.2.3",
		GitSHA:         "0123456789abcdef0123456789abcdef01234567",
		Image:          s.Image.Repository + ":1.2.3",
		ImageTag:       s.Image.Repository + ":1.2.3",
		Digest:         "sha256:" + strings.Repeat("0", 64),
		Track:          "canary",
		Weight:         10,
		Replicas:       e.Replicas,
		Strategy:       e.Strategy.Type,
		MaxUnavailable: e.Strategy.MaxUnavailable,
		MaxSurge:       e.Strategy.MaxSurge,
		StableVersion:  "1.2.2",
		StableImage:    s.Image.Repository + ":1.2.2",
		Config:         e.Config,
		TrackURL:       sampleTrackURL(s),
	}
}

// sampleTrackURL is a replica's base URL on a platform whose checks can reach a track's replicas, else "".
func sampleTrackURL(s *Spec) string {
	if s.Platform.Docker != nil {
		return "http://127.0.0.1:49153"
	}
	return ""
}

// usesTrackURL reports whether a template names .TrackURL.
func usesTrackURL(text string) bool { return strings.Contains(text, ".TrackURL") }

// ReachesTrack reports whether an http check names {{.TrackURL}}, in its url or in its path and the
// environment's url (envURL): it then probes each replica of the checked track, past the router.
func ReachesTrack(c Check, envURL string) bool {
	h := c.HTTP
	if h == nil {
		return false
	}
	if h.URL != "" {
		return usesTrackURL(h.URL)
	}
	return usesTrackURL(envURL + h.Path)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var (
	parseErrRE     = regexp.MustCompile(`^template: [^:]*:\d+: `)
	execErrRE      = regexp.MustCompile(`at <([^>]*)>: (.*)$`)
	unknownFieldRE = regexp.MustCompile(`^can't evaluate field (\w+) in type \*?spec\.templateVars$`)
	missingKeyRE   = regexp.MustCompile(`^map has no entry for key "(.*)"$`)
)

// ParseTemplate parses one templated spec string the way Ferry renders it: a missing field or config key is an
// error, never "<no value>". Validation and the activities that render commands at run time both use it.
func ParseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Option("missingkey=error").Parse(text)
}

// Execute parses text with ParseTemplate and executes it against data.
func Execute(name, text string, data any) (string, error) {
	t, err := ParseTemplate(name, text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// render executes text as a template against vars, returning the output or a problem message.
func render(text string, vars *templateVars) (string, string) {
	t, err := ParseTemplate("", text)
	if err != nil {
		return "", "bad template: " + parseErrRE.ReplaceAllString(err.Error(), "")
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", execProblem(err, vars.Env)
	}
	return b.String(), ""
}

// execProblem turns a template execution error into a message in the spec's own terms.
func execProblem(err error, env string) string {
	m := execErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return "bad template: " + err.Error()
	}
	if f := unknownFieldRE.FindStringSubmatch(m[2]); f != nil {
		if hint := didYouMean("."+f[1], templateVarNames); hint != "" {
			return fmt.Sprintf("unknown template variable .%s%s", f[1], hint)
		}
		return fmt.Sprintf("unknown template variable .%s (known: %s)", f[1], strings.Join(templateVarNames, " "))
	}
	if k := missingKeyRE.FindStringSubmatch(m[2]); k != nil && strings.HasPrefix(m[1], ".Config") {
		return fmt.Sprintf("config key %q is not set in environment %q", k[1], env)
	}
	return fmt.Sprintf("bad template: %s: %s", m[1], m[2])
}

// TemplateVarNames returns the variables templates may use (".Service", ...). activities tests check it
// against activities.TemplateVars so the two cannot drift apart.
func TemplateVarNames() []string { return append([]string(nil), templateVarNames...) }
