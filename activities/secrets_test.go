package activities

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/spec"
)

// fakeSecrets is a KV store in memory: "mount/path" → data.
type fakeSecrets struct {
	data  map[string]map[string]string
	err   error
	reads int
}

func (f *fakeSecrets) ReadSecret(_ context.Context, mount, path string) (map[string]string, bool, error) {
	f.reads++
	if f.err != nil {
		return nil, false, f.err
	}
	d, ok := f.data[mount+"/"+path]
	return d, ok, nil
}

const testSecretValue = "s3cr3t-db-password"

func testStore() *fakeSecrets {
	return &fakeSecrets{data: map[string]map[string]string{
		"secret/checkout/staging": {"db": testSecretValue, "other": "another-value-in-the-secret"},
	}}
}

func TestResolveSecrets(t *testing.T) {
	refs := map[string]string{"DB_PASSWORD": "vault:secret/checkout/staging#db", "OTHER": "vault:secret/checkout/staging#other"}
	store := testStore()
	var learnt []string
	got, err := resolveSecrets(context.Background(), store, func(v ...string) { learnt = append(learnt, v...) }, "staging", refs)
	if err != nil {
		t.Fatal(err)
	}
	if got["DB_PASSWORD"] != testSecretValue || got["OTHER"] != "another-value-in-the-secret" {
		t.Errorf("got %v, want both values", got)
	}
	if store.reads != 1 {
		t.Errorf("got %d reads of one secret, want 1", store.reads)
	}
	if !slices.Contains(learnt, testSecretValue) {
		t.Errorf("got learnt %d values without the secret, want the redactor to learn it", len(learnt))
	}

	failures := []struct {
		name, ref string
		store     SecretResolver
		wantType  string
		wantIn    []string
	}{
		{"missing key", "vault:secret/checkout/staging#nope", testStore(), ErrTypeSecretMissing,
			[]string{"environment staging", "secret DB_PASSWORD", "vault:secret/checkout/staging#nope", "no key nope"}},
		{"missing secret", "vault:secret/checkout/prod#db", testStore(), ErrTypeSecretMissing,
			[]string{"environment staging", "secret DB_PASSWORD", "vault:secret/checkout/prod#db", "no secret at secret/checkout/prod"}},
		{"no backend", "vault:secret/checkout/staging#db", nil, ErrTypeSecretMissing, []string{"no secret backend"}},
		{"not a reference", "pasted-value", testStore(), ErrTypeInvalidSpec, []string{"secret DB_PASSWORD"}},
		{"vault down", "vault:secret/checkout/staging#db", &fakeSecrets{err: errors.New("connection refused")}, "", []string{"connection refused"}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveSecrets(context.Background(), tt.store, nil, "staging", map[string]string{"DB_PASSWORD": tt.ref})
			if err == nil {
				t.Fatal("got no error, want one")
			}
			var app *temporal.ApplicationError
			switch {
			case tt.wantType == "" && errors.As(err, &app):
				t.Errorf("got application error %v, want a retryable plain error", err)
			case tt.wantType != "" && (!errors.As(err, &app) || app.Type() != tt.wantType || !app.NonRetryable()):
				t.Errorf("got %v, want a non-retryable %s", err, tt.wantType)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pasted-value") {
				t.Errorf("got %q, which quotes a value that may be the secret", err)
			}
		})
	}
}

func TestSecretRedactor(t *testing.T) {
	r := &SecretRedactor{Next: RedactFunc(strings.ToUpper)}
	if got := r.Redact("nothing known " + testSecretValue); got != strings.ToUpper("nothing known "+testSecretValue) {
		t.Errorf("got %q before Add, want only Next applied", got)
	}
	r.Add(testSecretValue, "s3cr3t", "abc")
	if got, want := r.Redact("pw="+testSecretValue+" short=s3cr3t tiny=abc"), "PW=[REDACTED] SHORT=[REDACTED] TINY=ABC"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestConfigHash(t *testing.T) {
	cfg := map[string]string{"LOG_LEVEL": "debug"}
	a := ConfigHash("release-1", cfg, map[string]string{"DB": testSecretValue})
	if a != ConfigHash("release-1", cfg, map[string]string{"DB": testSecretValue}) {
		t.Error("got two hashes of the same configuration, want one")
	}
	for name, other := range map[string]string{
		"rotated secret": ConfigHash("release-1", cfg, map[string]string{"DB": "rotated"}),
		"changed config": ConfigHash("release-1", map[string]string{"LOG_LEVEL": "info"}, map[string]string{"DB": testSecretValue}),
		"other salt":     ConfigHash("release-2", cfg, map[string]string{"DB": testSecretValue}),
	} {
		if other == a {
			t.Errorf("%s: got the same hash, want another", name)
		}
	}
	if !strings.HasPrefix(a, "hmac-sha256:") || strings.Contains(a, testSecretValue) {
		t.Errorf("got %q, want an hmac-sha256 hash without the value", a)
	}
}

// Deploy, promote and rollback hand the resolved secrets to the command's environment, never its argv; the
// other operations get none, and a missing secret runs nothing.
func TestPlatformExecSecrets(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{exitOK}}
	exec := spec.ExecPlatform{Dir: "/", Deploy: []string{"deploy"}, SetWeight: []string{"w"}, Promote: []string{"p"},
		Rollback: []string{"rb"}, Remove: []string{"rm"}}
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy})
	p.Secrets = testStore()
	env := newActivityEnv(p)
	in := PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars,
		Secrets: map[string]string{"DB_PASSWORD": "vault:secret/checkout/staging#db"}}
	for _, op := range platformOps {
		if _, err := env.ExecuteActivity(op.fn(p), in); err != nil {
			t.Fatalf("%s: %v", op.op, err)
		}
	}
	for i, cmd := range runner.got {
		has := slices.Contains(cmd.Env, "DB_PASSWORD="+testSecretValue)
		want := slices.Contains([]string{"deploy", "p", "rb"}, cmd.Argv[0])
		if has != want {
			t.Errorf("command %d (%s): got the secret in its environment %v, want %v", i, cmd.Argv[0], has, want)
		}
		if slices.ContainsFunc(cmd.Argv, func(a string) bool { return strings.Contains(a, testSecretValue) }) {
			t.Errorf("command %d: got the secret in argv %q", i, cmd.Argv)
		}
	}

	runner.got = nil
	in.Secrets = map[string]string{"DB_PASSWORD": "vault:secret/checkout/staging#missing"}
	_, err := env.ExecuteActivity(p.Deploy, in)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrTypeSecretMissing {
		t.Errorf("got %v, want %s", err, ErrTypeSecretMissing)
	}
	if len(runner.got) != 0 {
		t.Errorf("got %d commands run, want none when a secret is missing", len(runner.got))
	}
}

// A command that prints the secret in its failure is redacted in the error, through the redactor that
// learnt the value when it was resolved.
func TestPlatformExecSecretEchoRedacted(t *testing.T) {
	runner := &fakeRunner{runs: []fakeRun{{res: execrun.Result{ExitCode: 1, Status: "exit status 1",
		Output: "env dump:\nDB_PASSWORD=" + testSecretValue + "\n"}}}}
	red := &SecretRedactor{}
	p := execPlatform(&Exec{Runner: runner, Policy: testPolicy, Redact: red})
	p.Secrets = testStore()
	exec := spec.ExecPlatform{Dir: "/", Deploy: []string{"deploy"}}
	_, err := newActivityEnv(p).ExecuteActivity(p.Deploy, PlatformRequest{Platform: spec.Platform{Exec: &exec}, Vars: testVars,
		Secrets: map[string]string{"DB_PASSWORD": "vault:secret/checkout/staging#db"}})
	if err == nil {
		t.Fatal("got no error, want the command's failure")
	}
	if strings.Contains(err.Error(), testSecretValue) || !strings.Contains(err.Error(), Redacted) {
		t.Errorf("got %q, want the secret redacted", err)
	}
	var app *temporal.ApplicationError
	var details PlatformResult
	if errors.As(err, &app) && app.HasDetails() {
		if err := app.Details(&details); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(details.Output, testSecretValue) {
		t.Errorf("got details %q, want the secret redacted", details.Output)
	}
}

func TestContainerEnvSecrets(t *testing.T) {
	v := testVars
	v.Config = map[string]string{"LOG_LEVEL": "debug"}
	got := containerEnv(v, map[string]string{"DB_PASSWORD": testSecretValue})
	if got["LOG_LEVEL"] != "debug" || got["DB_PASSWORD"] != testSecretValue || got["FERRY_SERVICE"] != "checkout" {
		t.Errorf("got %d variables without config, secret or coordinates", len(got))
	}
}
