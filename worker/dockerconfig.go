package worker

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/spec"
)

// DockerConfig is the file's docker section.
type DockerConfig struct {
	// Hosts maps a host name, as a spec names it, to a Docker engine: its address alone
	// (unix:///var/run/docker.sock, ssh://deploy@build-1, tcp://127.0.0.1:2375), or a mapping with the address
	// and how a tcp:// address is secured (DockerHost).
	Hosts map[string]DockerHost `yaml:"hosts" json:"hosts,omitempty"`
}

// DockerHost is one Docker engine a spec may name.
//
// A tcp:// address that is not on loopback needs TLS, or Insecure: the engine's API is root on its machine. An
// ssh:// address runs `ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio` with the worker's ssh (its
// keys or agent, its known_hosts), never asking anything: a login that would prompt fails.
type DockerHost struct {
	// Address is the engine's address: unix://, tcp://, ssh://[USER@]HOST[:PORT] or npipe://.
	Address string `yaml:"address" json:"address"`
	// TLS secures a tcp:// address. The engine's certificate is always verified.
	TLS *DockerTLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Insecure accepts a plain tcp:// address that is not on loopback: anyone on the path can read and drive
	// the engine.
	Insecure bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
}

// DockerTLS is a Docker host's tls section: PEM files, relative to the configuration file's directory when
// relative. They are read when the worker starts (the engine its Docker platform uses), and again for each
// image build.
type DockerTLS struct {
	// CA holds the certificate authorities that verify the engine's certificate; empty means the system's.
	CA string `yaml:"ca,omitempty" json:"ca,omitempty"`
	// Cert and Key are the client certificate and its key that an engine run with --tlsverify asks for: both or
	// neither.
	Cert string `yaml:"cert,omitempty" json:"cert,omitempty"`
	Key  string `yaml:"key,omitempty" json:"key,omitempty"`
}

// UnmarshalYAML takes an address alone or a mapping, whose unknown keys are errors that give their line.
func (h *DockerHost) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*h = DockerHost{}
		return n.Decode(&h.Address)
	}
	if err := knownKeys(n, "address", "tls", "insecure"); err != nil {
		return err
	}
	type plain DockerHost
	return n.Decode((*plain)(h))
}

// UnmarshalYAML refuses unknown keys, giving their line.
func (t *DockerTLS) UnmarshalYAML(n *yaml.Node) error {
	if err := knownKeys(n, "ca", "cert", "key"); err != nil {
		return err
	}
	type plain DockerTLS
	return n.Decode((*plain)(t))
}

// knownKeys reports the keys of mapping n that are not among keys, as the decoder's own unknown keys are
// reported (a custom unmarshaler does not get the decoder's strictness).
func knownKeys(n *yaml.Node, keys ...string) error {
	if n.Kind != yaml.MappingNode {
		return nil // the decoder says what is wrong with it
	}
	var problems []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(keys, k.Value) {
			problems = append(problems, fmt.Sprintf("line %d: unknown key %q", k.Line, k.Value))
		}
	}
	if len(problems) > 0 {
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

// Endpoint is how the worker reaches the engine.
func (h DockerHost) Endpoint() docker.Endpoint {
	e := docker.Endpoint{Host: h.Address, Insecure: h.Insecure}
	if h.TLS != nil {
		e.TLS = &docker.TLSFiles{CA: h.TLS.CA, Cert: h.TLS.Cert, Key: h.TLS.Key}
	}
	return e
}

// check lists what is wrong with the docker section.
func (d DockerConfig) check() []string {
	var problems []string
	for name, h := range d.Hosts {
		if strings.TrimSpace(h.Address) == "" {
			problems = append(problems, fmt.Sprintf("docker.hosts.%s: the address is empty", name))
			continue
		}
		err := h.Endpoint().Check()
		switch {
		case errors.Is(err, docker.ErrPlainTCP):
			problems = append(problems, fmt.Sprintf("docker.hosts.%s: %v (docker.hosts.%[1]s.tls: {ca, cert, key}, or docker.hosts.%[1]s.insecure: true)", name, err))
		case err != nil:
			problems = append(problems, fmt.Sprintf("docker.hosts.%s: %v", name, err))
		}
	}
	return problems
}

// resolveFiles makes the relative TLS files of every host relative to dir, the configuration file's directory.
func (d *DockerConfig) resolveFiles(dir string) {
	for name, h := range d.Hosts {
		if h.TLS == nil {
			continue
		}
		t := *h.TLS
		for _, f := range []*string{&t.CA, &t.Cert, &t.Key} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(dir, *f)
			}
		}
		h.TLS = &t
		d.Hosts[name] = h
	}
}

// dockerEndpoints are the worker's Docker hosts by name: the configuration's, plus "local" from
// opts.DockerHost (secured with the files in opts.DockerCertPath when it is a tcp:// address) unless the
// configuration names it.
func dockerEndpoints(opts Options) map[string]docker.Endpoint {
	endpoints := make(map[string]docker.Endpoint, len(opts.Config.Docker.Hosts)+1)
	for name, h := range opts.Config.Docker.Hosts {
		endpoints[name] = h.Endpoint()
	}
	if _, ok := endpoints[spec.DefaultDockerHost]; !ok {
		local := docker.Endpoint{Host: opts.DockerHost}
		if dir := opts.DockerCertPath; dir != "" && strings.HasPrefix(opts.DockerHost, "tcp://") {
			local.TLS = &docker.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
		}
		endpoints[spec.DefaultDockerHost] = local
	}
	return endpoints
}

// hostNames lists the configured Docker host names, sorted.
func (d DockerConfig) hostNames() []string { return slices.Sorted(maps.Keys(d.Hosts)) }
