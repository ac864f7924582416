package docker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testpki"
)

func TestEndpointCheck(t *testing.T) {
	files := &TLSFiles{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"}
	for _, tt := range []struct {
		e    Endpoint
		want string // "" when the endpoint is usable
	}{
		{Endpoint{}, ""},
		{Endpoint{Host: "unix:///var/run/docker.sock"}, ""},
		{Endpoint{Host: "tcp://127.0.0.1:2375"}, ""},
		{Endpoint{Host: "tcp://127.3.4.5:2375"}, ""},
		{Endpoint{Host: "tcp://localhost:2375"}, ""},
		{Endpoint{Host: "tcp://[::1]:2375"}, ""},
		{Endpoint{Host: "tcp://10.0.0.7:2376", TLS: files}, ""},
		{Endpoint{Host: "tcp://docker.example.com:2376", TLS: &TLSFiles{CA: "ca.pem"}}, ""},
		{Endpoint{Host: "tcp://10.0.0.7:2375", Insecure: true}, ""},
		{Endpoint{Host: "ssh://deploy@build-1:2222"}, ""},
		{Endpoint{Host: "ssh://build-1"}, ""},
		{Endpoint{Host: "tcp://10.0.0.7:2375"}, "plain tcp:// to a host that is not on loopback"},
		{Endpoint{Host: "tcp://docker.example.com:2375"}, "plain tcp:// to a host that is not on loopback"},
		{Endpoint{Host: "tcp://10.0.0.7:2376", TLS: files, Insecure: true}, "set TLS or insecure, not both"},
		{Endpoint{Host: "tcp://10.0.0.7:2376", TLS: &TLSFiles{Cert: "cert.pem"}}, "needs its key"},
		{Endpoint{Host: "unix:///var/run/docker.sock", TLS: files}, "apply to tcp:// addresses only"},
		{Endpoint{TLS: files}, "not to the default socket"},
		{Endpoint{Host: "ssh://build-1", Insecure: true}, "apply to tcp:// addresses only"},
		{Endpoint{Host: "ssh://deploy:hunter2@build-1"}, "a password in the address is not supported"},
		{Endpoint{Host: "ssh://build-1/var/run/docker.sock"}, "has no path or query"},
		{Endpoint{Host: "ssh://-oProxyCommand=x"}, "beginning with - is refused"},
		{Endpoint{Host: "http://127.0.0.1:2375"}, "is not a Docker address"},
		{Endpoint{Host: "/var/run/docker.sock"}, "is not a Docker address"},
	} {
		err := tt.e.Check()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: got %v, want no error", tt.e, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: got %v, want an error containing %q", tt.e, err, tt.want)
		}
	}
	if strings.Contains(fmtErr(Endpoint{Host: "ssh://deploy:hunter2@build-1"}.Check()), "hunter2") {
		t.Error("the refusal of an ssh address with a password shows the password")
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Connect refuses a plain tcp:// engine that is not on loopback before anything reaches it.
func TestConnectRefusesPlainRemoteTCP(t *testing.T) {
	if _, err := Connect(Endpoint{Host: "tcp://192.0.2.10:2375"}); err == nil || !strings.Contains(err.Error(), "accept that risk explicitly as insecure") {
		t.Errorf("got %v, want a refusal that names TLS and insecure", err)
	}
	c, err := Connect(Endpoint{Host: "tcp://192.0.2.10:2375", Insecure: true})
	if err != nil {
		t.Fatalf("insecure: got %v, want a client", err)
	}
	c.Close()
}

func TestSSHArgs(t *testing.T) {
	for addr, want := range map[string]string{
		"ssh://build-1":                "-T -o BatchMode=yes -- build-1 docker system dial-stdio",
		"ssh://deploy@build-1":         "-T -o BatchMode=yes -l deploy -- build-1 docker system dial-stdio",
		"ssh://deploy@build-1:2222":    "-T -o BatchMode=yes -l deploy -p 2222 -- build-1 docker system dial-stdio",
		"ssh://deploy@[fd00::7]:2222/": "-T -o BatchMode=yes -l deploy -p 2222 -- fd00::7 docker system dial-stdio",
	} {
		target, err := parseSSH(addr)
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if got := strings.Join(target.args(), " "); got != want {
			t.Errorf("%s: got ssh %s, want ssh %s", addr, got, want)
		}
	}
}

// fakeSSH puts an ssh program first in PATH that stands in for logging in to another machine: it appends its
// arguments to a log, refuses any but want (exit 255 with a complaint, as ssh does), and otherwise runs
// `docker system dial-stdio` against this machine's engine, as the remote machine's docker would against its
// own. It returns the log's path.
func fakeSSH(t *testing.T, want string) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no docker program in PATH")
		}
		t.Skip("no docker program in PATH")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := "#!/bin/sh\n" +
		"echo \"$*\" >> '" + log + "'\n" +
		"if [ \"$*\" != '" + want + "' ]; then echo \"fake ssh: refused arguments: $*\" >&2; exit 255; fi\n" +
		"exec docker system dial-stdio\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return log
}

// An ssh:// host is reached through `ssh ... docker system dial-stdio`: the client pings, names the engine and
// lists containers through it, and a failed login surfaces ssh's complaint.
func TestSSHDialStdio(t *testing.T) {
	eng := engine(t)
	log := fakeSSH(t, "-T -o BatchMode=yes -l deploy -p 2222 -- build-1.test docker system dial-stdio")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := New("ssh://deploy@build-1.test:2222")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.API().Ping(ctx); err != nil {
		t.Fatalf("ping through ssh: %v", err)
	}
	got, err := c.EngineID(ctx)
	want, werr := eng.EngineID(ctx)
	if err != nil || werr != nil || got != want {
		t.Errorf("engine ID through ssh: got %q (%v), want %q (%v)", got, err, want, werr)
	}
	if _, err := c.List(ctx, "svc-"+uniqueID(t), "staging"); err != nil {
		t.Errorf("list through ssh: %v", err)
	}
	calls, _ := os.ReadFile(log)
	if len(calls) == 0 {
		t.Error("the client never ran ssh")
	}

	wrong, err := New("ssh://deploy@build-1.test:2200")
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.API().Ping(ctx); err == nil || !strings.Contains(err.Error(), "fake ssh: refused arguments") {
		t.Errorf("ping through a refused login: got %v, want ssh's complaint", err)
	}
}

// tlsFront serves a mutual-TLS listener on loopback in front of eng, as an engine run with --tlsverify would
// listen: it accepts only clients with a certificate that ca signed, and joins each connection to eng's own
// socket. It returns the listener's tcp:// address.
func tlsFront(t *testing.T, eng *Client, pki *testpki.PKI) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.Server.CertFile, pki.Server.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.CA.CertPEM)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { joinEngine(conn, eng) })
		}
	})
	return "tcp://" + l.Addr().String()
}

// joinEngine copies between conn, once its handshake passed, and a new connection to eng's socket.
func joinEngine(conn net.Conn, eng *Client) {
	defer conn.Close()
	if err := conn.(*tls.Conn).Handshake(); err != nil {
		return
	}
	up, err := eng.API().Dialer()(context.Background())
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}

// A tcp:// engine behind mutual TLS answers a client with the CA and a client certificate, and refuses one
// without a certificate or one that does not trust the engine's CA.
func TestTLSEngine(t *testing.T) {
	eng := engine(t)
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsFront(t, eng, pki)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := eng.EngineID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		files TLSFiles
		fails []string // what the error may say; none when the client must work
	}{
		{"the CA and a client certificate", TLSFiles{CA: pki.CA.CertFile, Cert: pki.Client.CertFile, Key: pki.Client.KeyFile}, nil},
		{"no client certificate", TLSFiles{CA: pki.CA.CertFile}, []string{"certificate required", "bad certificate", "connection reset", "EOF"}},
		{"another CA", TLSFiles{CA: other.CA.CertFile, Cert: pki.Client.CertFile, Key: pki.Client.KeyFile}, []string{"certificate signed by unknown authority"}},
		{"a certificate of another CA", TLSFiles{CA: pki.CA.CertFile, Cert: other.Client.CertFile, Key: other.Client.KeyFile}, []string{"bad certificate", "unknown certificate authority", "connection reset", "EOF"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Connect(Endpoint{Host: addr, TLS: &tt.files})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := c.EngineID(ctx)
			if tt.fails == nil {
				if err != nil || got != want {
					t.Fatalf("engine ID through TLS: got %q (%v), want %q", got, err, want)
				}
				if _, err := c.List(ctx, "svc-"+uniqueID(t), "staging"); err != nil {
					t.Errorf("list through TLS: %v", err)
				}
				return
			}
			if err == nil || !slices.ContainsFunc(tt.fails, func(s string) bool { return strings.Contains(err.Error(), s) }) {
				t.Errorf("got %q, %v, want an error saying one of %q", got, err, tt.fails)
			}
			t.Logf("refused: %v", err)
		})
	}
}
