// Package testpki makes a throwaway public key infrastructure for tests of TLS: a CA, a server certificate for
// loopback and a client certificate, all signed by the CA and written as PEM files. It is for tests only: the
// keys are fresh, unprotected and short-lived.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a certificate and its key, as PEM and as the files they were written to.
type Pair struct {
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
}

// PKI is what New made.
type PKI struct {
	// CA signed Server and Client.
	CA Pair
	// Server is valid for 127.0.0.1, ::1 and localhost, for server authentication.
	Server Pair
	// Client is valid for client authentication, with the common name "ferry-test-client".
	Client Pair
}

const lifetime = 24 * time.Hour

// New makes a CA, a server and a client certificate, and writes each as NAME.pem and NAME-key.pem in dir (NAME:
// ca, server, client).
func New(dir string) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "ferry-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	p := &PKI{}
	var caCert *x509.Certificate
	if p.CA, caCert, err = issue(dir, "ca", caTmpl, nil, caKey, caKey); err != nil {
		return nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if p.Server, _, err = issue(dir, "server", srvTmpl, caCert, srvKey, caKey); err != nil {
		return nil, err
	}
	cliKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cliTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ferry-test-client"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(lifetime),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if p.Client, _, err = issue(dir, "client", cliTmpl, caCert, cliKey, caKey); err != nil {
		return nil, err
	}
	return p, nil
}

// issue signs tmpl with signer (tmpl itself when parent is nil) and writes the pair.
func issue(dir, name string, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) (Pair, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Pair{}, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("%s certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, nil, err
	}
	pair := Pair{
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CertFile: filepath.Join(dir, name+".pem"),
		KeyFile:  filepath.Join(dir, name+"-key.pem"),
	}
	if err := os.WriteFile(pair.CertFile, pair.CertPEM, 0o644); err != nil {
		return Pair{}, nil, err
	}
	if err := os.WriteFile(pair.KeyFile, pair.KeyPEM, 0o600); err != nil {
		return Pair{}, nil, err
	}
	return pair, cert, nil
}
