package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ferryhq/ferry/internal/testpki"
	"github.com/ferryhq/ferry/worker"
)

func newPKI(t *testing.T) *testpki.PKI {
	t.Helper()
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

func TestConnCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ConnOptions
		want string // "" means valid
	}{
		{"nothing", ConnOptions{}, ""},
		{"mutual TLS by files", ConnOptions{CertPath: "c", KeyPath: "k", CAPath: "ca"}, ""},
		{"mutual TLS by data", ConnOptions{CertData: "c", KeyData: "k", CAData: "ca"}, ""},
		{"cert path and data", ConnOptions{CertPath: "c", CertData: "c", KeyPath: "k"}, "--tls-cert-path and --tls-cert-data exclude each other"},
		{"CA path and data", ConnOptions{CAPath: "c", CAData: "c"}, "--tls-ca-path and --tls-ca-data exclude each other"},
		{"cert without key", ConnOptions{CertPath: "c"}, "--tls-cert-path needs the client's private key"},
		{"key without cert", ConnOptions{KeyData: "k"}, "--tls-key-data needs the client's certificate"},
		{"tls=false with a CA", ConnOptions{tlsSet: true, CAPath: "ca"}, "--tls=false conflicts with --tls-ca-path"},
		{"tls=false with an API key", ConnOptions{tlsSet: true, APIKey: "k"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.check()
			var usage *usageError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (!errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// The parsed command line sets tlsSet for --tls=false, whether given as a flag or by TEMPORAL_TLS.
func TestTLSFalseConflicts(t *testing.T) {
	clearEnv(t)
	_, stderr, code := ferryCtx(t, 10*time.Second, "--tls=false", "--tls-ca-path", "ca.pem", "list")
	if want := "ferry: --tls=false conflicts with --tls-ca-path\n"; code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("flag: got exit %d %q, want %d and %q", code, stderr, exitRejected, want)
	}
	t.Setenv("TEMPORAL_TLS", "false")
	t.Setenv("TEMPORAL_TLS_SERVER_NAME", "temporal.example.com")
	_, stderr, code = ferryCtx(t, 10*time.Second, "list")
	if want := "ferry: --tls=false conflicts with --tls-server-name\n"; code != exitRejected || !strings.HasPrefix(stderr, want) {
		t.Errorf("env: got exit %d %q, want %d and %q", code, stderr, exitRejected, want)
	}
}

// TLS is on with any TLS flag or an API key, unless --tls=false; an API key alone implies it, as in the
// temporal CLI.
func TestConnEnabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    ConnOptions
		want bool
	}{
		{"nothing", ConnOptions{}, false},
		{"--tls", ConnOptions{TLS: true, tlsSet: true}, true},
		{"a CA", ConnOptions{CAPath: "ca"}, true},
		{"a server name", ConnOptions{ServerName: "temporal.example.com"}, true},
		{"an API key", ConnOptions{APIKey: "k"}, true},
		{"an API key with --tls=false", ConnOptions{APIKey: "k", tlsSet: true}, false},
	} {
		if got := tc.o.enabled(); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestConnApply(t *testing.T) {
	pki := newPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")

	var d worker.DialOptions
	o := ConnOptions{CertPath: pki.Client.CertFile, KeyPath: pki.Client.KeyFile, CAPath: pki.CA.CertFile, ServerName: "localhost", APIKey: "k"}
	if err := o.apply(&d); err != nil {
		t.Fatal(err)
	}
	if d.TLS == nil || len(d.TLS.Certificates) != 1 || d.TLS.RootCAs == nil || d.TLS.ServerName != "localhost" || d.TLS.InsecureSkipVerify || d.APIKey != "k" {
		t.Errorf("mutual TLS: got %+v, API key %q", d.TLS, d.APIKey)
	}

	d = worker.DialOptions{}
	if err := (ConnOptions{APIKey: "k", tlsSet: true}).apply(&d); err != nil || d.TLS != nil || !d.TLSDisabled || d.APIKey != "k" {
		t.Errorf("API key with --tls=false: got TLS %v, TLSDisabled %v, err %v; want plaintext", d.TLS, d.TLSDisabled, err)
	}

	for _, tc := range []struct {
		name string
		o    ConnOptions
		want string
	}{
		{"missing CA file", ConnOptions{CAPath: missing}, "--tls-ca-path " + missing + ": no such file"},
		{"missing key file", ConnOptions{CertPath: pki.Client.CertFile, KeyPath: missing}, "--tls-key-path " + missing + ": no such file"},
		{"CA without PEM", ConnOptions{CAData: "not a certificate"}, "--tls-ca-data: holds no PEM certificate"},
		{"key of another certificate", ConnOptions{CertPath: pki.Client.CertFile, KeyPath: pki.Server.KeyFile}, "--tls-cert-path and --tls-key-path: "},
	} {
		var cred *credentialError
		err := tc.o.apply(&worker.DialOptions{})
		if !errors.As(err, &cred) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a credential error starting %q", tc.name, err, tc.want)
			continue
		}
		if r := describe(err); r.code != exitRejected {
			t.Errorf("%s: got exit %d, want %d", tc.name, r.code, exitRejected)
		}
	}
}

// --tls-disable-host-verification accepts a certificate for another name, but still only from a trusted CA.
func TestDisableHostVerificationStillVerifiesTheCA(t *testing.T) {
	pki := newPKI(t)
	cert, err := tls.X509KeyPair(pki.Server.CertPEM, pki.Server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	handshake := func(o ConnOptions) error {
		var d worker.DialOptions
		if err := o.apply(&d); err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", l.Addr().String(), d.TLS)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := handshake(ConnOptions{CAPath: pki.CA.CertFile, ServerName: "temporal.example.com"}); err == nil {
		t.Error("wrong name with host verification: got no error")
	}
	if err := handshake(ConnOptions{CAPath: pki.CA.CertFile, ServerName: "temporal.example.com", DisableHostVerification: true}); err != nil {
		t.Errorf("wrong name without host verification: %v", err)
	}
	// The client CA did not sign the server's certificate.
	if err := handshake(ConnOptions{CAData: string(pki.Client.CertPEM), DisableHostVerification: true}); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("untrusted CA without host verification: got %v, want unknown authority", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const key = "fk_live_0123456789"
	o := ConnOptions{APIKey: key, CAPath: "ca.pem"}
	j, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o), fmt.Sprintf("%s %q", o.APIKey, o.APIKey), string(j)} {
		if strings.Contains(s, key) {
			t.Errorf("the key shows in %q", s)
		}
	}
}

// fakeFrontend is a gRPC server that answers GetSystemInfo, the call with which a client connects, to a client
// that sends the API key, and records every authorization header it gets.
type fakeFrontend struct {
	addr string
	mu   sync.Mutex
	auth []string
}

func startFakeFrontend(t *testing.T, key string, creds credentials.TransportCredentials) *fakeFrontend {
	t.Helper()
	f := &fakeFrontend{}
	opts := []grpc.ServerOption{grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		f.mu.Lock()
		f.auth = append(f.auth, md.Get("authorization")...)
		f.mu.Unlock()
		if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+key {
			return status.Error(codes.Unauthenticated, "request unauthorized")
		}
		method, _ := grpc.MethodFromServerStream(stream)
		if method != "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo" {
			return status.Error(codes.Unimplemented, method)
		}
		var req workflowservice.GetSystemInfoRequest
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		return stream.SendMsg(&workflowservice.GetSystemInfoResponse{})
	})}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f
}

func (f *fakeFrontend) headers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// The API key goes with the calls as a bearer token, over TLS by default and in plaintext with --tls=false; a
// key the server refuses is exit 3, and the key shows in no output.
func TestAPIKeyIsSent(t *testing.T) {
	clearEnv(t)
	pki := newPKI(t)
	cert, err := tls.X509KeyPair(pki.Server.CertPEM, pki.Server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	const key = "fk_live_abcdef123456"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	tlsFront := startFakeFrontend(t, key, credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	g := GlobalOptions{Address: tlsFront.addr, Namespace: "default", logger: logger, Conn: ConnOptions{APIKey: key, CAPath: pki.CA.CertFile}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := g.dial(ctx)
	if err != nil {
		t.Fatalf("dial with the API key over TLS: %v", err)
	}
	c.Close()
	if got := tlsFront.headers(); len(got) == 0 || got[0] != "Bearer "+key {
		t.Errorf("TLS: got authorization %q, want the bearer key", got)
	}

	plainFront := startFakeFrontend(t, key, nil)
	g = GlobalOptions{Address: plainFront.addr, Namespace: "default", logger: logger, Conn: ConnOptions{APIKey: key, tlsSet: true}}
	if c, err = g.dial(ctx); err != nil {
		t.Fatalf("dial with the API key and --tls=false: %v", err)
	}
	c.Close()
	if got := plainFront.headers(); len(got) == 0 || got[0] != "Bearer "+key {
		t.Errorf("plaintext: got authorization %q, want the bearer key", got)
	}

	const wrong = "fk_live_wrong0000"
	stdout, stderr, code := ferryCtx(t, 30*time.Second, "--log-level", "debug", "--address", tlsFront.addr, "--tls-ca-path", pki.CA.CertFile, "--api-key", wrong, "list")
	if code != exitUnreachable || !strings.Contains(stderr, "refused the credentials") || !strings.Contains(stderr, "hint: check --api-key") {
		t.Errorf("wrong key: got exit %d\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, wrong) {
		t.Errorf("the key shows in the output:\n%s\n%s", stdout, stderr)
	}
	if got := tlsFront.headers(); got[len(got)-1] != "Bearer "+wrong {
		t.Errorf("wrong key: the server got %q, want the wrong key", got[len(got)-1])
	}
}

// `ferry dev` checks its TLS files before it starts anything, and with mutual TLS on, its in-process worker
// connects with the process's own client certificate.
func TestDevTLSFlags(t *testing.T) {
	clearEnv(t)
	pki := newPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-client-ca", pki.CA.CertFile}, "ferry: --tls-client-ca needs --tls-server-cert and --tls-server-key"},
		{[]string{"--tls-server-cert", pki.Server.CertFile}, "ferry: --tls-server-cert and --tls-server-key go together"},
		{[]string{"--tls-server-cert", missing, "--tls-server-key", pki.Server.KeyFile}, "ferry: --tls-server-cert " + missing + ": no such file"},
		{[]string{"--tls-server-cert", pki.Server.CertFile, "--tls-server-key", pki.Client.KeyFile}, "ferry: --tls-server-cert and --tls-server-key: "},
		{[]string{"--tls-server-cert", pki.Server.CertFile, "--tls-server-key", pki.Server.KeyFile, "--tls-client-ca", pki.Server.KeyFile}, "ferry: --tls-client-ca " + pki.Server.KeyFile + ": holds no PEM certificate"},
	} {
		args := append([]string{"dev", "--port", "0", "--ui-port", "-1", "--no-worker"}, tc.args...)
		_, stderr, code := ferryCtx(t, 30*time.Second, args...)
		if code != exitRejected || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: got exit %d %q, want %d and %q", tc.args, code, stderr, exitRejected, tc.want)
		}
	}

	stdout, stderr, code := ferryCtx(t, 20*time.Second, "dev", "--port", "0", "--ui-port", "-1",
		"--tls-server-cert", pki.Server.CertFile, "--tls-server-key", pki.Server.KeyFile, "--tls-client-ca", pki.CA.CertFile)
	if !strings.Contains(stdout, ", mutual TLS)") || !strings.Contains(stdout, "Worker    task queue ferry") || !strings.Contains(stdout, "Ready.") {
		t.Errorf("ferry dev with mutual TLS: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// A refused handshake reads differently by timing and TLS version; each form gets a hint that says what to pass.
func TestDescribeConnFailure(t *testing.T) {
	unavailable := func(msg string) error { return status.Error(codes.Unavailable, msg) }
	const addr = "127.0.0.1:7233"
	for _, tc := range []struct {
		name      string
		err       error
		tls, cert bool
		message   string
		hint      string
	}{
		{"unknown CA", unavailable(`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`), true, false,
			"TLS handshake with Temporal at " + addr + " failed (certificate signed by unknown authority)", "--tls-ca-path"},
		{"other name", unavailable(`connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is valid for localhost, not temporal.example.com"`), true, false,
			"TLS handshake", "--tls-server-name"},
		{"certificate required", unavailable(`connection error: desc = "error reading server preface: remote error: tls: certificate required"`), true, false,
			"TLS handshake", "pass --tls-cert-path and --tls-key-path"},
		{"reset without a certificate", unavailable(`connection error: desc = "error reading server preface: read tcp 127.0.0.1:5->127.0.0.1:7233: read: connection reset by peer"`), true, false,
			"TLS handshake", "the server may want a client certificate"},
		{"reset with a certificate", unavailable(`connection error: desc = "error reading server preface: read tcp 127.0.0.1:5->127.0.0.1:7233: read: connection reset by peer"`), true, true,
			"TLS handshake", "may not trust the client certificate"},
		{"broken pipe without a certificate", unavailable(`connection error: desc = "transport: failed to write client preface: write tcp 127.0.0.1:5->127.0.0.1:7233: write: broken pipe"`), true, false,
			"TLS handshake", "the server may want a client certificate"},
		{"plaintext to a TLS server", unavailable(`connection error: desc = "error reading server preface: EOF"`), false, false,
			"Temporal at " + addr + " closed the connection (EOF)", "the server may require TLS"},
		{"TLS to a plaintext server", unavailable(`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`), true, false,
			"TLS handshake", "does not speak TLS"},
		{"refused key", status.Error(codes.Unauthenticated, "Request unauthorized."), true, false,
			"Temporal at " + addr + " refused the credentials (Request unauthorized.)", "--api-key"},
	} {
		r := describe(&unreachableError{address: addr, err: tc.err, tls: tc.tls, clientCert: tc.cert})
		if r.code != exitUnreachable || !strings.HasPrefix(r.message, tc.message) || !strings.Contains(r.hint, tc.hint) {
			t.Errorf("%s: got %d %q, hint %q; want %d, %q and a hint with %q", tc.name, r.code, r.message, r.hint, exitUnreachable, tc.message, tc.hint)
		}
	}
	// A plain refusal keeps the general hint.
	r := describe(&unreachableError{address: addr, err: unavailable(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:7233: connect: connection refused"`), tls: true})
	if !strings.Contains(r.hint, "start `ferry dev`") {
		t.Errorf("connection refused: got hint %q, want the general one", r.hint)
	}
}
