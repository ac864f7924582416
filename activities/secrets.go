package activities

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/spec"
)

// ErrTypeSecretMissing is an environment secret whose reference names no secret or no key, or a release with
// secrets on a worker that has no secret backend. Non-retryable: the message names the variable, the environment
// and the reference.
const ErrTypeSecretMissing = "SecretMissing"

// SecretResolver reads secrets for the Platform activities; *vault.Client implements it. The values it returns
// never leave the activity: they go to the platform as environment variables and to the redaction hook.
type SecretResolver interface {
	// ReadSecret returns the data of the latest version of the KV v2 secret at path under mount. found is
	// false when there is none. An error is retryable (Vault unreachable, a token being renewed).
	ReadSecret(ctx context.Context, mount, path string) (data map[string]string, found bool, err error)
}

// resolveSecrets resolves the references of env (variable name → "vault:..." reference) with r, and returns
// the values by variable name. Every value goes to learn before resolveSecrets returns, so that the redaction
// hook knows it before any platform command can print it. A missing secret or key, or references without a
// resolver, is a non-retryable ErrTypeSecretMissing that names the variable, env and the reference; other
// failures are retryable.
func resolveSecrets(ctx context.Context, r SecretResolver, learn func(...string), env string, refs map[string]string) (map[string]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range refs {
			if !yield(k) {
				return
			}
		}
	})
	if r == nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"environment %s: secret %s (%s): this worker has no secret backend (configure vault in its configuration, or --vault-addr)",
			env, names[0], refs[names[0]]), ErrTypeSecretMissing, nil)
	}
	type location struct{ mount, path string }
	read := map[location]map[string]string{}
	values := make(map[string]string, len(refs))
	for _, name := range names {
		ref, err := spec.ParseSecretRef(refs[name])
		if err != nil {
			// Workflow input is not to be trusted: the reference may be the value itself, so it is not quoted.
			return nil, invalidSpec(fmt.Sprintf("environment %s: secret %s: %v", env, name, err), nil)
		}
		loc := location{ref.Mount, ref.Path}
		data, ok := read[loc]
		if !ok {
			var found bool
			data, found, err = r.ReadSecret(ctx, ref.Mount, ref.Path)
			if err != nil {
				return nil, fmt.Errorf("environment %s: secret %s (%s): %w", env, name, ref, err)
			}
			if !found {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
					"environment %s: secret %s (%s): no secret at %s/%s", env, name, ref, ref.Mount, ref.Path), ErrTypeSecretMissing, nil)
			}
			vals := make([]string, 0, len(data))
			for _, v := range data {
				vals = append(vals, v)
			}
			if learn != nil {
				learn(vals...) // the whole secret: a command may print a key that no variable names
			}
			read[loc] = data
		}
		v, ok := data[ref.Key]
		if !ok {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"environment %s: secret %s (%s): the secret at %s/%s has no key %s", env, name, ref, ref.Mount, ref.Path, ref.Key),
				ErrTypeSecretMissing, nil)
		}
		values[name] = v
	}
	return values, nil
}

// ConfigHash is an environment's resolved configuration, hashed: "hmac-sha256:" and the hex HMAC-SHA256 of its
// config keys and values and its secret names and resolved values, keyed by salt. With the release's workflow ID
// as the salt, the same configuration gives the same hash throughout a release, a changed one (a rotated secret
// included) a different hash, and nobody can look a hash up in a table made for another release. It does not
// reveal values; a secret with little entropy could still be guessed by someone who can read the hash and the
// salt, so secrets should be random.
func ConfigHash(salt string, config, secrets map[string]string) string {
	m := hmac.New(sha256.New, []byte(salt))
	write := func(kind string, kv map[string]string) {
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range kv {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(m, "%s %q=%q\n", kind, k, kv[k])
		}
	}
	write("config", config)
	write("secret", secrets)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
}

// ConfigRequest is the input of Platform.ResolveConfig: one environment's plain config and its secret
// references (never values).
type ConfigRequest struct {
	Service string            `json:"service"`
	Env     string            `json:"env"`
	Config  map[string]string `json:"config,omitempty"`
	Secrets map[string]string `json:"secrets,omitempty"`
}

// ConfigResult is the output of Platform.ResolveConfig.
type ConfigResult struct {
	// Hash is ConfigHash of the resolved configuration, salted with the release's workflow ID.
	Hash string `json:"hash"`
	// Secrets counts the secrets resolved.
	Secrets int `json:"secrets,omitempty"`
}

// ResolveConfig resolves every secret reference of an environment before anything deploys there, so that a
// missing secret or key fails the environment (non-retryable ErrTypeSecretMissing, naming the variable, the
// environment and the reference) before any traffic shifts, and returns the salted hash of the resolved
// configuration, which the workflow records. It only reads, so it is idempotent. The values stay in the worker:
// they feed the redaction hook, and the result holds only the hash.
func (p *Platform) ResolveConfig(ctx context.Context, in ConfigRequest) (ConfigResult, error) {
	values, err := resolveSecrets(ctx, p.Secrets, p.learn, in.Env, in.Secrets)
	if err != nil {
		return ConfigResult{}, redactError(p.Redact, err)
	}
	salt := in.Service + "/" + in.Env
	if activity.IsActivity(ctx) {
		salt = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	return ConfigResult{Hash: ConfigHash(salt, in.Config, values), Secrets: len(values)}, nil
}

// learn tells the redaction hook about resolved values, when it can learn.
func (p *Platform) learn(values ...string) {
	if l, ok := p.Redact.(interface{ Add(...string) }); ok {
		l.Add(values...)
	}
}

// withSecrets resolves the request's secret references into in.SecretEnv, for an operation that starts a
// version.
func (p *Platform) withSecrets(ctx context.Context, in PlatformRequest) (PlatformRequest, error) {
	values, err := resolveSecrets(ctx, p.Secrets, p.learn, in.Vars.Env, in.Secrets)
	if err != nil {
		return in, err
	}
	in.SecretEnv = values
	return in, nil
}

// SecretRedactor is the redaction hook with a memory: it replaces every secret value it was told about (Add)
// with [redacted], then hands the string to Next. The Platform activities add each value they resolve. Values
// shorter than minRedacted bytes are not replaced: they would garble every message, and are no secret worth
// the name. It is safe for concurrent use.
type SecretRedactor struct {
	// Next, if set, redacts after the known values are replaced.
	Next Redactor

	mu       sync.RWMutex
	values   map[string]struct{}
	replacer *strings.Replacer
}

// minRedacted is the shortest value SecretRedactor replaces.
const minRedacted = 4

// Redacted is what a known secret value becomes.
const Redacted = "[redacted]"

// Add remembers values, so that every later Redact replaces them.
func (r *SecretRedactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < minRedacted {
			continue
		}
		if r.values == nil {
			r.values = map[string]struct{}{}
		}
		if _, ok := r.values[v]; !ok {
			r.values[v] = struct{}{}
			changed = true
		}
	}
	if !changed {
		return
	}
	// Longest first, so that a value that holds another is replaced whole.
	all := make([]string, 0, len(r.values))
	for v := range r.values {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Redacted)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Redact replaces every known value in s, then applies Next.
func (r *SecretRedactor) Redact(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep != nil {
		s = rep.Replace(s)
	}
	return redact(r.Next, s)
}
