package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/internal/testpki"
)

// dialWith dials the server with conn and makes one call; it returns the call's error.
func dialWith(t *testing.T, s *Server, conn client.ConnectionOptions) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.FrontendHostPort(), Namespace: s.Namespace(), ConnectionOptions: conn})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
	return err
}

// With mutual TLS, the server's own clients (search attributes at Start, the UI, ClientTLS) get through, a
// client with a certificate from the client CA gets through, and clients without one are refused.
func TestMutualTLS(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, Options{Port: 0, UIPort: 0, TLS: &TLS{CertPEM: pki.Server.CertPEM, KeyPEM: pki.Server.KeyPEM, ClientCAPEM: pki.CA.CertPEM}})
	if !s.MutualTLS() {
		t.Fatal("MutualTLS() = false, want true")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.CA.CertPEM)
	clientCert, err := tls.X509KeyPair(pki.Client.CertPEM, pki.Client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}

	if err := dialWith(t, s, client.ConnectionOptions{TLS: s.ClientTLS()}); err != nil {
		t.Errorf("ClientTLS: %v", err)
	}
	if err := dialWith(t, s, client.ConnectionOptions{TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{clientCert}}}); err != nil {
		t.Errorf("client certificate from the client CA: %v", err)
	}
	// The refusal reads "certificate required", or, by timing, as a reset or broken connection.
	if err := dialWith(t, s, client.ConnectionOptions{TLS: &tls.Config{RootCAs: roots}}); err == nil {
		t.Error("TLS without a client certificate: got no error, want a refusal")
	}
	if err := dialWith(t, s, client.ConnectionOptions{}); err == nil {
		t.Error("plaintext client: got no error, want a refusal")
	}
	// A client certificate the server's CA did not sign: the internal one of another server.
	other, _, _, err := internalClientCert()
	if err != nil {
		t.Fatal(err)
	}
	if err := dialWith(t, s, client.ConnectionOptions{TLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{other}}}); err == nil {
		t.Error("client certificate of an unknown CA: got no error, want a refusal")
	}

	// The UI reaches the frontend through its own TLS connection. It dialled before the frontend listened, so
	// its connection may be in gRPC's reconnect backoff (at most 10 s) for a while.
	var code int
	var body []byte
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(s.UIURL() + "/api/v1/namespaces/" + s.Namespace())
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if code = resp.StatusCode; code == http.StatusOK {
			break
		}
	}
	if code != http.StatusOK || !strings.Contains(string(body), s.Namespace()) {
		t.Errorf("UI namespace: got %d %.200s, want 200 naming %q", code, body, s.Namespace())
	}
}

// nameFor picks the dialled host when the certificate holds it, else a name the certificate holds.
func TestNameFor(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(pki.Server.CertPEM, pki.Server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ host, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"10.1.2.3", "localhost"},
	} {
		if got, err := nameFor(pair.Leaf, tc.host); err != nil || got != tc.want {
			t.Errorf("nameFor(%s): got %q, %v, want %q", tc.host, got, err, tc.want)
		}
	}
}

func TestTLSRejectsBadCertificate(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = Start(ctx, Options{UIPort: -1, Logger: testLogger(), TLS: &TLS{CertPEM: pki.Server.CertPEM, KeyPEM: pki.Client.KeyPEM}})
	if err == nil || !strings.Contains(err.Error(), "server certificate and key") {
		t.Errorf("mismatched key: got %v, want a server certificate and key error", err)
	}
	_, err = Start(ctx, Options{UIPort: -1, Logger: testLogger(), TLS: &TLS{CertPEM: pki.Server.CertPEM, KeyPEM: pki.Server.KeyPEM, ClientCAPEM: []byte("not pem")}})
	if err == nil || !strings.Contains(err.Error(), "client CA") {
		t.Errorf("bad client CA: got %v, want a client CA error", err)
	}
}
