package spec

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PlatformDocker is the Kind of the Docker platform.
const PlatformDocker = "docker"

// DockerPlatform runs each environment's replicas as labelled containers on a Docker engine, behind the traffic
// router. It holds names only: Host names an engine that the worker's configuration maps to an address, and the
// worker's configuration also names the router. Nothing here is an endpoint or a credential.
type DockerPlatform struct {
	// Host names the Docker engine, as the worker's configuration (docker.hosts) knows it. Default "local".
	Host string `yaml:"host,omitempty" json:"host"`
	// Port is the container port that serves HTTP. Required.
	Port int `yaml:"port" json:"port"`
	// Readiness gates when a container receives traffic.
	Readiness Readiness `yaml:"readiness,omitempty" json:"readiness"`
	// Liveness, if set, keeps each container answering: every worker with the engine probes it and restarts a
	// container that fails it Retries times in a row (see docker.Client.Supervise).
	Liveness *Liveness `yaml:"liveness,omitempty" json:"liveness,omitempty"`
	// StopTimeout is how long a container gets between SIGTERM and SIGKILL. Default 10s.
	StopTimeout Duration `yaml:"stopTimeout,omitempty" json:"stopTimeout"`
	// Timeout bounds one platform operation. Default 5m.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout"`
	// Hosts maps an environment name to the Host header that selects the service there in the router. An
	// environment that is not listed is served as <service>.<env>.localhost.
	Hosts map[string]string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	// Sticky, if set, keeps one user on one track by a hash of a header or a cookie.
	Sticky *Sticky `yaml:"sticky,omitempty" json:"sticky,omitempty"`
}

// Readiness is an HTTP probe that must answer 200 Threshold times in a row before a container takes traffic.
type Readiness struct {
	// Path is probed with GET. Default "/".
	Path string `yaml:"path,omitempty" json:"path"`
	// Interval between probes; it also bounds each probe. Default 1s.
	Interval Duration `yaml:"interval,omitempty" json:"interval"`
	// Timeout bounds the whole wait for a track's containers. Default 2m.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout"`
	// Threshold is how many 200s in a row make a container ready. Default 1.
	Threshold int `yaml:"threshold,omitempty" json:"threshold"`
}

// Liveness is an HTTP probe of a running container: Retries failures in a row (anything but a 200), Interval
// apart, each bounded by Timeout, and the container is restarted in place, at the same address.
type Liveness struct {
	// Path is probed with GET. Required.
	Path string `yaml:"path" json:"path"`
	// Interval between probes. Default 10s.
	Interval Duration `yaml:"interval,omitempty" json:"interval"`
	// Timeout bounds one probe. Default 2s.
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout"`
	// Retries is how many failures in a row replace the container. Default 3.
	Retries int `yaml:"retries,omitempty" json:"retries"`
}

// Sticky names the header or the cookie whose value keeps a user on one track. Exactly one is set.
type Sticky struct {
	Header string `yaml:"header,omitempty" json:"header,omitempty"`
	Cookie string `yaml:"cookie,omitempty" json:"cookie,omitempty"`
}

// Defaults of the Docker platform.
const (
	DefaultDockerHost      = "local"
	defaultStopTimeout     = 10 * time.Second
	defaultReadinessPath   = "/"
	defaultReadinessEvery  = time.Second
	defaultReadinessWait   = 2 * time.Minute
	defaultLivenessEvery   = 10 * time.Second
	defaultLivenessTimeout = 2 * time.Second
	defaultLivenessRetries = 3
)

// RouterHosts returns the Host headers that select service in env: the one listed for env, or else
// <service>.<env>.localhost.
func (d *DockerPlatform) RouterHosts(service, env string) []string {
	if host := d.Hosts[env]; host != "" {
		return []string{host}
	}
	return []string{service + "." + env + ".localhost"}
}

func dockerDefaults(d *DockerPlatform, src *source) {
	const p = "platform.docker"
	setDefault(&d.Host, DefaultDockerHost, src, p+".host")
	setDefault(&d.StopTimeout, Duration(defaultStopTimeout), src, p+".stopTimeout")
	setDefault(&d.Timeout, Duration(defaultExecTimeout), src, p+".timeout")
	r := &d.Readiness
	setDefault(&r.Path, defaultReadinessPath, src, p+".readiness.path")
	setDefault(&r.Interval, Duration(defaultReadinessEvery), src, p+".readiness.interval")
	setDefault(&r.Timeout, Duration(defaultReadinessWait), src, p+".readiness.timeout")
	setDefault(&r.Threshold, 1, src, p+".readiness.threshold")
	if l := d.Liveness; l != nil {
		setDefault(&l.Interval, Duration(defaultLivenessEvery), src, p+".liveness.interval")
		setDefault(&l.Timeout, Duration(defaultLivenessTimeout), src, p+".liveness.timeout")
		setDefault(&l.Retries, defaultLivenessRetries, src, p+".liveness.retries")
	}
}

var (
	hostHeaderRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	headerNameRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
)

// docker checks the platform.docker block.
func (v *validator) docker(s *Spec, d *DockerPlatform) {
	const p = "platform.docker"
	v.name(p+".host", d.Host)
	if d.Port < 1 || d.Port > 65535 {
		v.add(p+".port", "must be a port, 1..65535, got %d", d.Port)
	}
	v.httpPath(p+".readiness.path", d.Readiness.Path, true)
	v.positive(p+".readiness.interval", d.Readiness.Interval)
	v.positive(p+".readiness.timeout", d.Readiness.Timeout)
	if d.Readiness.Threshold < 1 {
		v.add(p+".readiness.threshold", "must be at least 1, got %d", d.Readiness.Threshold)
	}
	if l := d.Liveness; l != nil {
		v.httpPath(p+".liveness.path", l.Path, true)
		v.positive(p+".liveness.interval", l.Interval)
		v.positive(p+".liveness.timeout", l.Timeout)
		if l.Retries < 1 {
			v.add(p+".liveness.retries", "must be at least 1, got %d", l.Retries)
		}
	}
	v.positive(p+".stopTimeout", d.StopTimeout)
	v.positive(p+".timeout", d.Timeout)
	envs := make([]string, len(s.Environments))
	for i, e := range s.Environments {
		envs[i] = e.Name
	}
	seen := map[string]string{}
	for _, env := range slices.Sorted(maps.Keys(d.Hosts)) {
		hp := p + ".hosts." + env
		if !slices.Contains(envs, env) {
			v.add(hp, "names no environment of this spec (environments: %s)%s", strings.Join(envs, ", "), didYouMean(env, envs))
			continue
		}
		switch h := d.Hosts[env]; {
		case !hostHeaderRE.MatchString(h):
			v.add(hp, "must be a lower-case host name without a port, got %s", QuoteValue(h))
		case seen[h] != "":
			v.add(hp, "%s is also the host of %s: a host selects one environment", QuoteValue(h), seen[h])
		default:
			seen[h] = env
		}
	}
	if st := d.Sticky; st != nil {
		v.exactlyOne(p+".sticky", "header", st.Header != "", "cookie", st.Cookie != "")
		for _, f := range []struct{ name, val string }{{"header", st.Header}, {"cookie", st.Cookie}} {
			if f.val != "" && !headerNameRE.MatchString(f.val) {
				v.add(p+".sticky."+f.name, "must be a header or cookie name, got %s", QuoteValue(f.val))
			}
		}
	}
}

// httpPath checks a path probed with GET.
func (v *validator) httpPath(path, got string, required bool) {
	switch {
	case got == "" && required:
		v.add(path, "required")
	case got != "" && (got[0] != '/' || len(got) > 1024):
		v.add(path, "must be a path starting with /, got %s", QuoteValue(got))
	}
}
