package devserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"go.temporal.io/server/common/rpc/encryption"
)

// TLS turns TLS on for the frontend, its gRPC and its HTTP port. The other Temporal services listen on loopback
// only and keep talking in plaintext.
type TLS struct {
	// CertPEM is the server's certificate, followed by its intermediates; KeyPEM is its private key.
	CertPEM, KeyPEM []byte
	// ClientCAPEM, when set, makes the TLS mutual: the frontend refuses a client without a certificate signed by
	// one of these CAs.
	ClientCAPEM []byte
}

// tlsSetup is the TLS of a running server: the frontend's configuration and the one its own clients use.
//
// The server's own clients (its system worker, Start's search-attribute registration, the Web UI, and
// Server.ClientTLS) present an internal client certificate, made at Start and never written anywhere; the
// frontend trusts it besides ClientCAPEM. They trust exactly the server's certificate.
type tlsSetup struct {
	server *tls.Config
	client *tls.Config
	mutual bool
	// ui is what the Web UI's server needs to dial the frontend.
	ui uiconfig.TLS
}

// internalCertLifetime is how long the internal client certificate is valid: longer than a dev server runs.
const internalCertLifetime = 10 * 365 * 24 * time.Hour

// newTLSSetup checks t and builds the configurations. dialHost is the host the server's clients dial.
func newTLSSetup(t *TLS, dialHost string) (*tlsSetup, error) {
	pair, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: server certificate and key: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("tls: server certificate: %w", err)
	}
	serverName, err := nameFor(leaf, dialHost)
	if err != nil {
		return nil, err
	}
	internal, internalCertPEM, internalKeyPEM, err := internalClientCert()
	if err != nil {
		return nil, err
	}
	s := &tlsSetup{
		server: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}},
		mutual: len(t.ClientCAPEM) > 0,
	}
	if s.mutual {
		cas := x509.NewCertPool()
		if !cas.AppendCertsFromPEM(t.ClientCAPEM) {
			return nil, errors.New("tls: client CA holds no PEM certificate")
		}
		// A self-signed certificate that is not a CA vouches for itself only.
		cas.AddCert(internal.Leaf)
		s.server.ClientCAs = cas
		s.server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	pinned := x509.NewCertPool()
	pinned.AddCert(leaf)
	s.client = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{internal},
		RootCAs:      pinned,
		ServerName:   serverName,
	}
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	b64 := base64.StdEncoding.EncodeToString
	s.ui = uiconfig.TLS{
		CaData:                 b64(leafPEM),
		CertData:               b64(internalCertPEM),
		KeyData:                b64(internalKeyPEM),
		ServerName:             serverName,
		EnableHostVerification: true,
	}
	return s, nil
}

// nameFor is the name the server's clients verify the certificate against: the host they dial when the
// certificate holds it, else the first name it holds.
func nameFor(leaf *x509.Certificate, dialHost string) (string, error) {
	switch {
	case leaf.VerifyHostname(dialHost) == nil:
		return dialHost, nil
	case len(leaf.DNSNames) > 0:
		return leaf.DNSNames[0], nil
	case len(leaf.IPAddresses) > 0:
		return leaf.IPAddresses[0].String(), nil
	}
	return "", errors.New("tls: server certificate holds no DNS name or IP address")
}

// internalClientCert makes a self-signed client certificate on a fresh key.
func internalClientCert() (cert tls.Certificate, certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cert, nil, nil, fmt.Errorf("tls: internal client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return cert, nil, nil, fmt.Errorf("tls: internal client certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ferry dev server (internal client)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(internalCertLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return cert, nil, nil, fmt.Errorf("tls: internal client certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return cert, nil, nil, fmt.Errorf("tls: internal client key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, nil, nil, fmt.Errorf("tls: internal client certificate: %w", err)
	}
	return cert, certPEM, keyPEM, nil
}

// tlsProvider gives the Temporal server its TLS: the frontend's, and the client side of it for the system
// worker. Internode traffic stays on loopback in plaintext, and there are no remote clusters.
type tlsProvider struct{ s *tlsSetup }

var _ encryption.TLSConfigProvider = tlsProvider{}

func (tlsProvider) GetInternodeServerConfig() (*tls.Config, error) { return nil, nil }
func (tlsProvider) GetInternodeClientConfig() (*tls.Config, error) { return nil, nil }
func (p tlsProvider) GetFrontendServerConfig() (*tls.Config, error) {
	return p.s.server, nil
}
func (p tlsProvider) GetFrontendClientConfig() (*tls.Config, error) {
	return p.s.client.Clone(), nil
}
func (tlsProvider) GetRemoteClusterClientConfig(string) (*tls.Config, error) { return nil, nil }
func (tlsProvider) GetExpiringCerts(time.Duration) (encryption.CertExpirationMap, encryption.CertExpirationMap, error) {
	return nil, nil, nil
}
