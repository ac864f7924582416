package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testpki"
	"github.com/ferryhq/ferry/workflows"
)

// securedServer is a `ferry dev --no-worker` of its own with mutual TLS on.
type securedServer struct {
	address string
	pki     *testpki.PKI
}

// env is the environment of a ferry process pointed at the server, with the given extra variables.
func (s securedServer) env(extra ...string) []string {
	return append(append(ferryEnv(), "TEMPORAL_ADDRESS="+s.address), extra...)
}

// mtlsEnv gives the client certificate, its key and the CA by the temporal CLI's environment variables.
func (s securedServer) mtlsEnv(extra ...string) []string {
	return append(s.env(
		"TEMPORAL_TLS_CLIENT_CERT_PATH="+s.pki.Client.CertFile,
		"TEMPORAL_TLS_CLIENT_KEY_PATH="+s.pki.Client.KeyFile,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH="+s.pki.CA.CertFile,
	), extra...)
}

// mtlsFlags give the same by flags.
func (s securedServer) mtlsFlags() []string {
	return []string{"--tls-cert-path", s.pki.Client.CertFile, "--tls-key-path", s.pki.Client.KeyFile, "--tls-ca-path", s.pki.CA.CertFile}
}

// ferryEnvArgs runs the binary with env and returns its exit code and output.
func ferryEnvArgs(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, stack.bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("ferry %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// startSecuredServer starts `ferry dev --no-worker` with mutual TLS, and a `ferry worker` that connects to it
// with a client certificate given by environment variables. Both stop at the end of the test.
func startSecuredServer(t *testing.T) securedServer {
	t.Helper()
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := securedServer{address: fmt.Sprintf("127.0.0.1:%d", freePort()), pki: pki}
	logDir := t.TempDir()
	launch := func(name string, env []string, args ...string) {
		cmd := exec.Command(stack.bin, args...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		log, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stop(cmd)
			log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(log.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
	}
	_, port, _ := strings.Cut(s.address, ":")
	launch("dev-mtls", s.env(), "dev", "--port", port, "--ui-port", fmt.Sprint(freePort()), "--no-worker",
		"--tls-server-cert", pki.Server.CertFile, "--tls-server-key", pki.Server.KeyFile, "--tls-client-ca", pki.CA.CertFile)
	if err := waitPort(s.address, time.Minute); err != nil {
		t.Fatalf("ferry dev with mutual TLS: %v", err)
	}
	// The port accepts before the namespace is ready; a listing answers once it is.
	deadline := time.Now().Add(time.Minute)
	for {
		r := ferryEnvArgs(t, s.mtlsEnv(), "list", "--output", "json")
		if r.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry list with mutual TLS never succeeded: exit %d\n%s", r.code, r.stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	launch("worker-mtls", s.mtlsEnv(), "worker", "--exec-root", stack.execRoot, "--exec-allow", stack.execRoot+"/**")
	return s
}

// A release runs end to end on a server that requires client certificates: the worker connects with the
// temporal CLI's environment variables, the CLI with its flags (or the older variable names).
func TestMutualTLSRelease(t *testing.T) {
	t.Parallel()
	s := startSecuredServer(t)
	a := newApp(t, "vault-door", canary("auto", "1s", "pass"), nil)
	start := append([]string{"start", "--spec", a.spec(), "--version", "1.0.0", "--git-sha", "0a1b2c3", "--wait"}, s.mtlsFlags()...)
	if r := ferryEnvArgs(t, s.env(), start...); r.code != 0 {
		t.Fatalf("start --wait with mutual TLS: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a.wantCalls(wantRelease("1.0.0")...)

	// The temporal CLI's earlier variable names work too.
	oldNames := s.env(
		"TEMPORAL_TLS_CERT="+s.pki.Client.CertFile,
		"TEMPORAL_TLS_KEY="+s.pki.Client.KeyFile,
		"TEMPORAL_TLS_CA="+s.pki.CA.CertFile,
	)
	r := ferryEnvArgs(t, oldNames, "status", "vault-door", "--version", "1.0.0", "--output", "json")
	var st workflows.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.State != workflows.StateSucceeded {
		t.Errorf("status with the older variable names: exit %d, state %q\n%s\n%s", r.code, st.State, r.stdout, r.stderr)
	}
	// Certificates given as PEM text.
	data := s.env(
		"TEMPORAL_TLS_CLIENT_CERT_DATA="+string(s.pki.Client.CertPEM),
		"TEMPORAL_TLS_CLIENT_KEY_DATA="+string(s.pki.Client.KeyPEM),
		"TEMPORAL_TLS_SERVER_CA_CERT_DATA="+string(s.pki.CA.CertPEM),
	)
	if r := ferryEnvArgs(t, data, "list", "--service", "vault-door"); r.code != 0 || !strings.Contains(r.stdout, "1.0.0") {
		t.Errorf("list with PEM data: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// Clients that do not present a certificate the server trusts are refused with exit 3 and a hint that says
// what to pass; a credential file that cannot be read is exit 2 and names its flag. An API key never shows.
func TestMutualTLSRefusals(t *testing.T) {
	t.Parallel()
	s := startSecuredServer(t)
	const apiKey = "fk_live_9f8e7d6c5b4a"
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		message string
		hint    string
	}{
		{name: "plaintext", args: nil, code: 3,
			message: "closed the connection", hint: "the server may require TLS"},
		{name: "TLS without a client certificate", args: []string{"--tls-ca-path", s.pki.CA.CertFile}, code: 3,
			message: "TLS handshake with Temporal at " + s.address + " failed", hint: "pass --tls-cert-path and --tls-key-path"},
		{name: "unknown server CA", args: []string{"--tls-cert-path", s.pki.Client.CertFile, "--tls-key-path", s.pki.Client.KeyFile}, code: 3,
			message: "certificate signed by unknown authority", hint: "--tls-ca-path"},
		{name: "wrong server name", args: append(s.mtlsFlags(), "--tls-server-name", "temporal.example.com"), code: 3,
			message: "TLS handshake", hint: "--tls-server-name"},
		{name: "missing certificate file", args: []string{"--tls-cert-path", missing, "--tls-key-path", s.pki.Client.KeyFile}, code: 2,
			message: "--tls-cert-path " + missing + ": no such file", hint: "PEM"},
		{name: "API key without a client certificate", args: []string{"--api-key", apiKey, "--tls-ca-path", s.pki.CA.CertFile}, code: 3,
			message: "TLS handshake", hint: "--tls-cert-path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--log-level", "debug", "status", "vault-door"}, tc.args...)
			r := ferryEnvArgs(t, s.env(), args...)
			t.Logf("exit %d, stderr:\n%s", r.code, r.stderr)
			if r.code != tc.code {
				t.Errorf("got exit %d, want %d\n%s", r.code, tc.code, r.stderr)
			}
			msg, hint := reportLines(r.stderr)
			if !strings.Contains(msg, tc.message) || !strings.Contains(hint, tc.hint) {
				t.Errorf("got message %q and hint %q, want them to contain %q and %q", msg, hint, tc.message, tc.hint)
			}
			if strings.Contains(r.stdout+r.stderr, apiKey) {
				t.Errorf("the API key shows in the output:\n%s\n%s", r.stdout, r.stderr)
			}
		})
	}

	// A good client with an API key: the server takes it (it checks none), and the key shows nowhere.
	r := ferryEnvArgs(t, s.mtlsEnv("TEMPORAL_API_KEY="+apiKey), "--log-level", "debug", "list", "--output", "json")
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, apiKey) {
		t.Errorf("list with an API key: exit %d, key shown %v\n%s", r.code, strings.Contains(r.stdout+r.stderr, apiKey), r.stderr)
	}
}

// reportLines returns the "ferry: " and "hint: " lines of stderr.
func reportLines(stderr string) (msg, hint string) {
	for _, line := range strings.Split(stderr, "\n") {
		if m, ok := strings.CutPrefix(line, "ferry: "); ok {
			msg = m
		}
		if h, ok := strings.CutPrefix(line, "hint: "); ok {
			hint = h
		}
	}
	return msg, hint
}
