package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/registry"
)

// The worker logs in to an image's registry with the configured entry of that host, reading the password
// reference when asked; other registries get the anonymous login.
func TestLogins(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"REG_PW": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	login := logins(map[string]Registry{
		"main":   {Address: "registry.example.com", Username: "ci", Password: SecretRef("env:REG_PW")},
		"local":  {Address: "127.0.0.1:5000", Username: "dev", Password: SecretRef("file:" + filepath.Join(dir, "pw"))},
		"broken": {Address: "broken.example.com", Username: "x", Password: SecretRef("env:UNSET_PW")},
	}, lookup)
	for _, tt := range []struct {
		host string
		want registry.Login
	}{
		{"registry.example.com", registry.Login{Username: "ci", Password: "from-env"}},
		{"127.0.0.1:5000", registry.Login{Username: "dev", Password: "from-file"}},
		{"other.example.com", registry.Login{}},
	} {
		got, err := login(tt.host)
		if err != nil || got != tt.want {
			t.Errorf("login(%s): got %+v, %v; want %+v", tt.host, got, err, tt.want)
		}
	}
	env["REG_PW"] = "rotated"
	if got, _ := login("registry.example.com"); got.Password != "rotated" {
		t.Errorf("got password %q after rotation, want rotated", got.Password)
	}
	if _, err := login("broken.example.com"); err == nil || !strings.Contains(err.Error(), "registries.broken.password") {
		t.Errorf("got %v, want an error naming registries.broken.password", err)
	}
}

// A build names a configured Docker host or none; any other name is refused with the names there are.
func TestEngines(t *testing.T) {
	engine := engines(map[string]docker.Endpoint{"local": {Host: "unix:///var/run/docker.sock"}, "remote": {Host: "tcp://127.0.0.1:2375"}})
	for _, name := range []string{"", "local", "remote"} {
		e, err := engine(name)
		if err != nil {
			t.Errorf("engine(%q): %v", name, err)
			continue
		}
		e.Close()
	}
	if _, err := engine("elsewhere"); err == nil || !strings.Contains(err.Error(), "[local remote]") {
		t.Errorf("got %v, want an error listing local and remote", err)
	}
}

// Builds reach "local" as deploys do: DOCKER_HOST (with DOCKER_CERT_PATH for tcp://) when the configuration
// does not name it, and a plain tcp:// host that is not on loopback not at all.
func TestBuildEngineIsTheDeployEngine(t *testing.T) {
	e := dockerEndpoints(Options{DockerHost: "tcp://127.0.0.1:2376", DockerCertPath: "/etc/docker-certs"})
	want := docker.Endpoint{Host: "tcp://127.0.0.1:2376", TLS: &docker.TLSFiles{CA: "/etc/docker-certs/ca.pem",
		Cert: "/etc/docker-certs/cert.pem", Key: "/etc/docker-certs/key.pem"}}
	if got := e["local"]; got.Host != want.Host || got.TLS == nil || *got.TLS != *want.TLS {
		t.Errorf("got local %+v, want %+v", got, want)
	}
	if got := dockerEndpoints(Options{DockerHost: "unix:///run/docker.sock", DockerCertPath: "/etc/docker-certs"})["local"]; got.TLS != nil {
		t.Errorf("got TLS %+v for a unix socket, want none", got.TLS)
	}
	named := dockerEndpoints(Options{DockerHost: "tcp://127.0.0.1:2376", Config: Config{Docker: DockerConfig{Hosts: map[string]DockerHost{"local": {Address: "unix:///run/docker.sock"}}}}})
	if got := named["local"].Host; got != "unix:///run/docker.sock" {
		t.Errorf("got local %q with docker.hosts.local configured, want the configured address", got)
	}
	if _, err := engines(dockerEndpoints(Options{DockerHost: "tcp://192.0.2.10:2375"}))(""); err == nil || !errors.Is(err, docker.ErrPlainTCP) {
		t.Errorf("a build on a plain remote tcp:// DOCKER_HOST: got %v, want it refused", err)
	}
}
