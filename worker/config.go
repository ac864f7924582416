package worker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// DefaultConfigFile is the worker configuration file read from the working directory when no other is named.
const DefaultConfigFile = "ferry-worker.yaml"

// Config is the worker's own configuration, read from ferry-worker.yaml: the endpoints and credentials its
// drivers and routers use. It stays on the worker. A spec names targets (a Docker host called "local"); the
// worker maps those names to the endpoints here, so that workflow input never carries an endpoint or a secret.
// Flags and environment variables take precedence over the file; cmd/ferry applies them.
type Config struct {
	// Exec is what platform and check commands may do. The --exec-* flags (and their environment variables)
	// override each field.
	Exec ExecConfig `yaml:"exec" json:"exec"`
	// Docker holds the Docker hosts a spec may name.
	Docker DockerConfig `yaml:"docker" json:"docker"`
	// Registries are the image registries the worker may pull from, by name.
	Registries map[string]Registry `yaml:"registries" json:"registries,omitempty"`
	// Router is the traffic router's admin endpoint.
	Router RouterConfig `yaml:"router" json:"router"`
	// Databases maps a database name, as a spec's migrations name it, to where its connection string (a
	// PostgreSQL DSN or URL, which holds a password) is found: env:NAME or file:PATH. A key "ENV/NAME" is the
	// database NAME of environment ENV only, and takes precedence over "NAME" there.
	Databases map[string]SecretRef `yaml:"databases" json:"databases,omitempty"`
	// Vault is where the environments' secret references resolve. Without an address, a release whose spec
	// names secrets fails before it deploys them.
	Vault VaultConfig `yaml:"vault" json:"vault"`
	// Prometheus is the server that analysis and verification query for the spec's metrics.
	Prometheus PrometheusConfig `yaml:"prometheus" json:"prometheus"`
	// Codec encrypts payloads, when neither --codec-keys nor FERRY_CODEC_KEYS names a key set.
	Codec CodecConfig `yaml:"codec" json:"codec"`
}

// CodecConfig is the file's codec section.
type CodecConfig struct {
	// Keys is where the key set is found (env:NAME or file:PATH): one ID:BASE64 key a line.
	Keys SecretRef `yaml:"keys" json:"keys,omitempty"`
	// Active is the ID of the key that encrypts. Default the first key; --codec-key-id overrides it.
	Active string `yaml:"active" json:"active,omitempty"`
}

// VaultConfig is the file's vault section: Vault's address and how the worker logs in, with a token or with
// AppRole. Credentials are references (env:NAME or file:PATH), never values. The --vault-* flags (and their
// environment variables) override each field.
type VaultConfig struct {
	// Address is Vault's URL: https://vault.example.com:8200.
	Address string `yaml:"address" json:"address,omitempty"`
	// Token is where the worker's Vault token is found. It takes precedence over AppRole.
	Token SecretRef `yaml:"token" json:"token,omitempty"`
	// AppRole logs in through the AppRole auth method.
	AppRole AppRoleConfig `yaml:"approle" json:"approle"`
}

// AppRoleConfig is the vault.approle section.
type AppRoleConfig struct {
	// Mount is the path the AppRole auth method is mounted at. Default "approle".
	Mount string `yaml:"mount" json:"mount,omitempty"`
	// RoleID and SecretID are where the role's credentials are found: env:NAME or file:PATH.
	RoleID   SecretRef `yaml:"roleId" json:"roleId,omitempty"`
	SecretID SecretRef `yaml:"secretId" json:"secretId,omitempty"`
}

// VaultAuth is the worker's Vault access with its credentials resolved: what the vault client needs.
type VaultAuth struct {
	Address          string
	Token            Secret
	AppRoleMount     string
	RoleID, SecretID Secret
}

// Resolve reads the credentials that v refers to, with lookupEnv and readFile (os.LookupEnv and os.ReadFile in
// a real worker).
func (v VaultConfig) Resolve(lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (VaultAuth, error) {
	a := VaultAuth{Address: v.Address, AppRoleMount: v.AppRole.Mount}
	var err error
	if a.Token, err = v.Token.Resolve(lookupEnv, readFile); err != nil {
		return VaultAuth{}, fmt.Errorf("vault.token: %w", err)
	}
	if a.RoleID, err = v.AppRole.RoleID.Resolve(lookupEnv, readFile); err != nil {
		return VaultAuth{}, fmt.Errorf("vault.approle.roleId: %w", err)
	}
	if a.SecretID, err = v.AppRole.SecretID.Resolve(lookupEnv, readFile); err != nil {
		return VaultAuth{}, fmt.Errorf("vault.approle.secretId: %w", err)
	}
	return a, nil
}

// PrometheusConfig is the file's prometheus section, the counterpart of the --prometheus-* flags.
type PrometheusConfig struct {
	// Address is the server's base URL: http://127.0.0.1:9090.
	Address string `yaml:"address" json:"address,omitempty"`
	// Token is a bearer token. It is never printed or logged.
	Token Secret `yaml:"token" json:"token,omitempty"`
	// Username and Password are basic auth credentials; Password is where the password is found, env:NAME or
	// file:PATH.
	Username string    `yaml:"username" json:"username,omitempty"`
	Password SecretRef `yaml:"password" json:"password,omitempty"`
}

// ExecConfig is the file's exec section, the counterpart of the --exec-root, --exec-allow and --exec-env flags.
type ExecConfig struct {
	// Root is the directory platform.exec.dir resolves against. A relative root is taken relative to the
	// configuration file's directory.
	Root string `yaml:"root" json:"root,omitempty"`
	// Allow holds the glob patterns of the programs commands may run.
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// Env names the worker's environment variables that commands get besides PATH and HOME.
	Env []string `yaml:"env" json:"env,omitempty"`
}

// Registry is one image registry.
type Registry struct {
	// Address is the registry's host (and port): registry.example.com.
	Address string `yaml:"address" json:"address"`
	// Username is the account to log in with; empty means anonymous pulls.
	Username string `yaml:"username" json:"username,omitempty"`
	// Password is where the password is found, never the password itself: env:NAME or file:PATH.
	Password SecretRef `yaml:"password" json:"password,omitempty"`
}

// RouterConfig is the file's router section.
type RouterConfig struct {
	// Admin is the base URL of the router's admin API: http://127.0.0.1:9090.
	Admin string `yaml:"admin" json:"admin,omitempty"`
	// Token is the bearer token of the admin API. It is never printed or logged.
	Token Secret `yaml:"token" json:"token,omitempty"`
}

// Secret is a credential. It prints, logs and marshals as [redacted] whatever the verb or encoder; only Reveal
// gives its value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// String returns [redacted].
func (s Secret) String() string { return redacted }

// GoString returns [redacted].
func (s Secret) GoString() string { return redacted }

// Format writes [redacted] for every verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue keeps the secret out of slog records.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the secret out of JSON, YAML and every other text encoding.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText takes the secret as written.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}

// SecretRef says where a secret is found: "env:NAME" (an environment variable of the worker) or "file:PATH"
// (a file whose content, without a trailing newline, is the secret). A reference is not secret itself.
type SecretRef string

var secretEnvRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// check reports what is wrong with the reference, without quoting it: a value that is no reference may be the
// secret itself.
func (r SecretRef) check() error {
	kind, rest, ok := strings.Cut(string(r), ":")
	switch {
	case ok && kind == "env" && secretEnvRE.MatchString(rest):
		return nil
	case ok && kind == "file" && rest != "":
		return nil
	}
	return errors.New("must be a reference, env:NAME or file:PATH, not the secret itself")
}

// Resolve returns the secret that r refers to, with lookupEnv and readFile (os.LookupEnv and os.ReadFile in a
// real worker). An empty reference resolves to an empty secret.
func (r SecretRef) Resolve(lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (Secret, error) {
	if r == "" {
		return "", nil
	}
	if err := r.check(); err != nil {
		return "", err
	}
	kind, rest, _ := strings.Cut(string(r), ":")
	if kind == "env" {
		v, ok := lookupEnv(rest)
		if !ok {
			return "", fmt.Errorf("secret %s: environment variable %s is not set", r, rest)
		}
		return Secret(v), nil
	}
	b, err := readFile(rest)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", r, err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// check lists what is wrong with the vault section.
func (v VaultConfig) check() []string {
	var problems []string
	if v.Address != "" {
		if u, err := url.Parse(v.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("vault.address: %q is not an http:// or https:// URL", v.Address))
		}
	}
	for name, ref := range map[string]SecretRef{"vault.token": v.Token, "vault.approle.roleId": v.AppRole.RoleID, "vault.approle.secretId": v.AppRole.SecretID} {
		if ref != "" {
			if err := ref.check(); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			}
		}
	}
	if (v.AppRole.RoleID == "") != (v.AppRole.SecretID == "") {
		problems = append(problems, "vault.approle: set both roleId and secretId")
	}
	return problems
}

// ConfigError is a worker configuration file that cannot be used: each problem names its line or its key.
type ConfigError struct {
	Path     string
	Problems []string
}

func (e *ConfigError) Error() string {
	return e.Path + ": " + strings.Join(e.Problems, "; ")
}

// LoadConfig reads and checks the worker configuration file at path. A relative exec.root, and a relative file
// of a Docker host's tls, becomes relative to the file's directory. A missing file is an error that wraps
// fs.ErrNotExist; a file that cannot be used is a *ConfigError.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read worker configuration: %w", err)
	}
	cfg, err := ParseConfig(path, data)
	if err != nil {
		return Config{}, err
	}
	if cfg.Exec.Root != "" && !filepath.IsAbs(cfg.Exec.Root) {
		cfg.Exec.Root = filepath.Join(filepath.Dir(path), cfg.Exec.Root)
	}
	cfg.Docker.resolveFiles(filepath.Dir(path))
	return cfg, nil
}

// unknownFieldRE matches the YAML decoder's complaint about a key that no field takes.
var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)

// ParseConfig decodes and checks a worker configuration; name is the file's name for messages. Unknown keys are
// errors that give their line, so that a misspelt key never silently leaves a setting at its default.
func ParseConfig(name string, data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&cfg)
	if errors.Is(err, io.EOF) {
		return Config{}, nil // an empty file
	}
	if err != nil {
		var typeErr *yaml.TypeError
		if !errors.As(err, &typeErr) {
			return Config{}, &ConfigError{Path: name, Problems: []string{strings.TrimPrefix(err.Error(), "yaml: ")}}
		}
		problems := make([]string, len(typeErr.Errors))
		for i, e := range typeErr.Errors {
			if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
			}
			problems[i] = e
		}
		return Config{}, &ConfigError{Path: name, Problems: problems}
	}
	if problems := cfg.check(); len(problems) > 0 {
		return Config{}, &ConfigError{Path: name, Problems: problems}
	}
	return cfg, nil
}

// check lists what is wrong with the values of cfg, sorted by key.
func (cfg Config) check() []string {
	var problems []string
	problems = append(problems, cfg.Docker.check()...)
	for name, r := range cfg.Registries {
		if strings.TrimSpace(r.Address) == "" {
			problems = append(problems, fmt.Sprintf("registries.%s.address: is empty", name))
		}
		if r.Password != "" {
			if err := r.Password.check(); err != nil {
				problems = append(problems, fmt.Sprintf("registries.%s.password: %v", name, err))
			}
		}
	}
	for name, ref := range cfg.Databases {
		if err := ref.check(); err != nil {
			problems = append(problems, fmt.Sprintf("databases.%s: %v", name, err))
		}
	}
	problems = append(problems, cfg.Vault.check()...)
	if cfg.Codec.Keys != "" {
		if err := cfg.Codec.Keys.check(); err != nil {
			problems = append(problems, fmt.Sprintf("codec.keys: %v", err))
		}
	}
	if cfg.Router.Admin != "" {
		if u, err := url.Parse(cfg.Router.Admin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("router.admin: %q is not an http:// or https:// URL", cfg.Router.Admin))
		}
	}
	if p := cfg.Prometheus; p.Address != "" {
		if u, err := url.Parse(p.Address); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("prometheus.address: %q is not an http:// or https:// URL", p.Address))
		}
	}
	if p := cfg.Prometheus; p.Password != "" {
		if err := p.Password.check(); err != nil {
			problems = append(problems, fmt.Sprintf("prometheus.password: %v", err))
		}
		if p.Username == "" {
			problems = append(problems, "prometheus.password: needs prometheus.username")
		}
	}
	if p := cfg.Prometheus; p.Token != "" && p.Username != "" {
		problems = append(problems, "prometheus: set token or username/password, not both")
	}
	slices.Sort(problems)
	return problems
}
