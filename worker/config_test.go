package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

const fullConfig = `# the worker's own configuration
exec:
  root: /srv/ferry
  allow: [/srv/ferry/**, kubectl]
  env: [KUBECONFIG]
docker:
  hosts:
    local: unix:///var/run/docker.sock
    edge:
      address: tcp://10.0.0.7:2376
      tls: {ca: /etc/ferry/docker/ca.pem, cert: /etc/ferry/docker/cert.pem, key: /etc/ferry/docker/key.pem}
    build: ssh://deploy@build-1:2222
registries:
  main:
    address: registry.example.com
    username: ferry
    password: env:REGISTRY_PASSWORD
router:
  admin: http://127.0.0.1:9090
  token: tok-9f8e7d6c5b4a
prometheus:
  address: http://127.0.0.1:9091
  username: ferry
  password: file:/etc/ferry/prometheus-password
`

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig("ferry-worker.yaml", []byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Exec.Root != "/srv/ferry" || !slices.Equal(cfg.Exec.Allow, []string{"/srv/ferry/**", "kubectl"}) || !slices.Equal(cfg.Exec.Env, []string{"KUBECONFIG"}) {
		t.Errorf("got exec %+v, want the file's", cfg.Exec)
	}
	edge := DockerHost{Address: "tcp://10.0.0.7:2376", TLS: &DockerTLS{CA: "/etc/ferry/docker/ca.pem", Cert: "/etc/ferry/docker/cert.pem", Key: "/etc/ferry/docker/key.pem"}}
	if got := cfg.Docker.Hosts["edge"]; got.Address != edge.Address || got.TLS == nil || *got.TLS != *edge.TLS || got.Insecure {
		t.Errorf("got docker host edge %+v, want %+v", got, edge)
	}
	if got := cfg.Docker.Hosts["build"]; got.Address != "ssh://deploy@build-1:2222" || got.TLS != nil {
		t.Errorf("got docker host build %+v, want the address alone", got)
	}
	if got := cfg.Registries["main"]; got.Address != "registry.example.com" || got.Username != "ferry" || got.Password != "env:REGISTRY_PASSWORD" {
		t.Errorf("got registry %+v, want the file's", got)
	}
	if cfg.Router.Admin != "http://127.0.0.1:9090" || cfg.Router.Token.Reveal() != "tok-9f8e7d6c5b4a" {
		t.Errorf("got router admin %q, token %q, want the file's", cfg.Router.Admin, cfg.Router.Token.Reveal())
	}
	if p := cfg.Prometheus; p.Address != "http://127.0.0.1:9091" || p.Username != "ferry" || p.Password != "file:/etc/ferry/prometheus-password" {
		t.Errorf("got prometheus %+v, want the file's", p)
	}

	empty, err := ParseConfig("ferry-worker.yaml", []byte("# nothing yet\n"))
	if err != nil || empty.Exec.Root != "" || empty.Docker.Hosts != nil {
		t.Errorf("got %+v, %v for an empty file, want the zero config", empty, err)
	}
}

// A plain tcp:// host on loopback needs nothing; one elsewhere needs TLS or insecure: true.
func TestParseConfigDockerPlainTCP(t *testing.T) {
	for _, data := range []string{
		"docker:\n  hosts:\n    local: tcp://127.0.0.1:2375\n",
		"docker:\n  hosts:\n    lab: {address: tcp://10.0.0.8:2375, insecure: true}\n",
		"docker:\n  hosts:\n    edge: {address: tcp://10.0.0.7:2376, tls: {ca: ca.pem}}\n",
	} {
		if _, err := ParseConfig("w.yaml", []byte(data)); err != nil {
			t.Errorf("%q: got %v, want it accepted", data, err)
		}
	}
}

// Relative TLS files are relative to the configuration file.
func TestLoadConfigDockerTLSFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultConfigFile)
	data := "docker:\n  hosts:\n    edge: {address: tcp://10.0.0.7:2376, tls: {ca: certs/ca.pem, cert: /abs/cert.pem, key: certs/key.pem}}\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DockerTLS{CA: filepath.Join(dir, "certs/ca.pem"), Cert: "/abs/cert.pem", Key: filepath.Join(dir, "certs/key.pem")}
	if got := cfg.Docker.Hosts["edge"].TLS; got == nil || *got != want {
		t.Errorf("got tls %+v, want %+v", got, want)
	}
}

// A misspelt key is an error that names it and its line, wherever it is.
func TestParseConfigUnknownKeys(t *testing.T) {
	data := "exec:\n  root: /srv\n  alow: [x]\ndocker:\n  hosts:\n    edge:\n      address: tcp://10.0.0.7:2376\n      tsl: {}\n" +
		"    lab:\n      address: tcp://10.0.0.8:2376\n      tls: {ca: ca.pem, crt: c.pem}\nrouters:\n  admin: http://r\n"
	_, err := ParseConfig("ferry-worker.yaml", []byte(data))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *ConfigError", err)
	}
	want := []string{`line 3: unknown key "alow"`, `line 8: unknown key "tsl"`, `line 11: unknown key "crt"`, `line 12: unknown key "routers"`}
	if !slices.Equal(ce.Problems, want) {
		t.Errorf("got problems %q, want %q", ce.Problems, want)
	}
	if !strings.HasPrefix(err.Error(), "ferry-worker.yaml: line 3: ") {
		t.Errorf("got %q, want it to start with the file and the line", err)
	}
}

func TestParseConfigBadValues(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"docker address", "docker:\n  hosts:\n    local: /var/run/docker.sock\n", `docker.hosts.local: "/var/run/docker.sock" is not a Docker address`},
		{"docker plain tcp", "docker:\n  hosts:\n    edge: tcp://10.0.0.7:2375\n", `docker.hosts.edge: tcp://10.0.0.7:2375: plain tcp:// to a host that is not on loopback`},
		{"docker plain tcp remedy", "docker:\n  hosts:\n    edge: tcp://10.0.0.7:2375\n", `(docker.hosts.edge.tls: {ca, cert, key}, or docker.hosts.edge.insecure: true)`},
		{"docker tls on unix", "docker:\n  hosts:\n    local: {address: unix:///run/docker.sock, tls: {ca: ca.pem}}\n", `docker.hosts.local: TLS and insecure apply to tcp:// addresses only`},
		{"docker cert without key", "docker:\n  hosts:\n    edge: {address: tcp://10.0.0.7:2376, tls: {cert: c.pem}}\n", `docker.hosts.edge: tcp://10.0.0.7:2376: a TLS client certificate needs its key`},
		{"docker empty address", "docker:\n  hosts:\n    edge: {insecure: true}\n", `docker.hosts.edge: the address is empty`},
		{"docker ssh password", "docker:\n  hosts:\n    b: ssh://deploy:pw@build-1\n", `docker.hosts.b: ssh://deploy:xxxxx@build-1: a password in the address is not supported`},
		{"router url", "router:\n  admin: 127.0.0.1:9090\n", `router.admin: "127.0.0.1:9090" is not an http:// or https:// URL`},
		{"prometheus url", "prometheus:\n  address: localhost:9090\n", `prometheus.address: "localhost:9090" is not an http:// or https:// URL`},
		{"prometheus password inline", "prometheus:\n  address: http://p:9090\n  username: u\n  password: hunter2\n", "prometheus.password: must be a reference"},
		{"prometheus password without username", "prometheus:\n  password: env:P\n", "prometheus.password: needs prometheus.username"},
		{"prometheus token and password", "prometheus:\n  token: t\n  username: u\n", "set token or username/password, not both"},
		{"registry without address", "registries:\n  main:\n    username: ferry\n", "registries.main.address: is empty"},
		{"not yaml", "exec: [\n", "line 1"},
		{"wrong type", "exec:\n  allow: 3\n", "line 2: cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("w.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A password written into the file instead of a reference is refused, and the refusal does not repeat it.
func TestRegistryPasswordMustBeAReference(t *testing.T) {
	_, err := ParseConfig("w.yaml", []byte("registries:\n  main:\n    address: r.example.com\n    password: hunter2-pw\n"))
	if err == nil || !strings.Contains(err.Error(), "registries.main.password: must be a reference, env:NAME or file:PATH") {
		t.Fatalf("got %v, want the password refused", err)
	}
	if strings.Contains(err.Error(), "hunter2-pw") {
		t.Errorf("got %q, want it without the password", err)
	}
}

func TestSecretRefResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "PW" {
			return "from-env", true
		}
		return "", false
	}
	tests := []struct {
		ref     SecretRef
		want    string
		wantErr string
	}{
		{"env:PW", "from-env", ""},
		{SecretRef("file:" + file), "from-file", ""},
		{"", "", ""},
		{"env:MISSING", "", "environment variable MISSING is not set"},
		{"file:" + SecretRef(filepath.Join(dir, "nope")), "", "no such file"},
		{"plain", "", "must be a reference"},
	}
	for _, tt := range tests {
		got, err := tt.ref.Resolve(env, os.ReadFile)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Resolve(%q): got %v, want an error containing %q", tt.ref, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got.Reveal() != tt.want):
			t.Errorf("Resolve(%q): got %q, %v, want %q", tt.ref, got.Reveal(), err, tt.want)
		}
	}
}

// However the configuration is printed, logged or encoded, the token stays out.
func TestSecretNeverPrints(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	cfg, err := ParseConfig("ferry-worker.yaml", []byte(fullConfig))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, cfg.Router.Token))
	}
	out = append(out, fmt.Sprint(cfg.Router), cfg.Router.Token.String())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("config", "config", cfg, "token", cfg.Router.Token, "router", cfg.Router)
	}
	out = append(out, string(j), string(y), logs.String())
	for _, s := range out {
		if strings.Contains(s, token) || strings.Contains(s, fmt.Sprintf("%x", token)) {
			t.Errorf("got %q, want it without the token", s)
		}
	}
	if !strings.Contains(string(j), `"token":"[redacted]"`) {
		t.Errorf("got %s, want the token shown as [redacted]", j)
	}
}

// A relative exec root is relative to the file, not to the worker's working directory.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultConfigFile)
	if err := os.WriteFile(path, []byte("exec:\n  root: deploy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "deploy"); cfg.Exec.Root != want {
		t.Errorf("got exec root %q, want %q", cfg.Exec.Root, want)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist", err)
	}
}

func TestDatabases(t *testing.T) {
	if _, err := ParseConfig("w.yaml", []byte("databases: {users: \"postgres://app:pw@db/users\"}\n")); err == nil ||
		strings.Contains(err.Error(), "pw@") || !strings.Contains(err.Error(), "databases.users: must be a reference") {
		t.Errorf("a DSN written in the file: got %v, want a refusal that does not quote it", err)
	}
	cfg, err := ParseConfig("w.yaml", []byte("databases:\n  users: env:USERS_DSN\n  production/users: env:PROD_USERS_DSN\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"USERS_DSN": "postgres://staging", "PROD_USERS_DSN": "postgres://prod"}
	d := databases{refs: cfg.Databases, lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for _, tt := range []struct{ env, want string }{{"staging", "postgres://staging"}, {"production", "postgres://prod"}} {
		if got, err := d.DSN(tt.env, "users"); err != nil || got != tt.want {
			t.Errorf("DSN(%s, users): got %q, %v, want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := d.DSN("staging", "orders"); err == nil || !strings.Contains(err.Error(), "no database orders") {
		t.Errorf("unknown database: got %v", err)
	}
}
