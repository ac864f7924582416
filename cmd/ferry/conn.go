package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferryhq/ferry/worker"
)

// ConnOptions are the global flags that secure the connection to Temporal. Their names and environment variables
// are those of the temporal CLI: the current ones first, then the ones of its earlier releases.
type ConnOptions struct {
	// TLS is --tls. Any other TLS flag, or an API key, turns TLS on without it; --tls=false keeps an API key's
	// connection in plaintext.
	TLS                     bool
	CertPath, CertData      string
	KeyPath, KeyData        string
	CAPath, CAData          string
	ServerName              string
	DisableHostVerification bool
	APIKey                  secret

	// tlsSet records that --tls (or TEMPORAL_TLS) was given, so that --tls=false can be told from no --tls.
	tlsSet bool
}

// secret is a string that never prints: not in errors, logs, JSON or a %+v of the options that hold it.
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

func (s secret) GoString() string { return `"` + s.String() + `"` }

func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

const connCategory = "Temporal connection"

func connFlags(o *ConnOptions) []cli.Flag {
	str := func(name, usage string, dst *string, env ...string) cli.Flag {
		return &cli.StringFlag{Name: name, Usage: usage, EnvVars: env, Destination: dst, Category: connCategory}
	}
	return []cli.Flag{
		&cli.BoolFlag{Name: "tls", Usage: "connect with TLS (on by default with any other TLS flag or an API key; --tls=false turns it off)",
			EnvVars: []string{"TEMPORAL_TLS"}, Destination: &o.TLS, Category: connCategory},
		str("tls-cert-path", "client certificate `FILE` (PEM) for mutual TLS", &o.CertPath, "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"),
		str("tls-cert-data", "client certificate as `PEM` text", &o.CertData, "TEMPORAL_TLS_CLIENT_CERT_DATA", "TEMPORAL_TLS_CERT_DATA"),
		str("tls-key-path", "client private key `FILE` (PEM)", &o.KeyPath, "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY"),
		str("tls-key-data", "client private key as `PEM` text", &o.KeyData, "TEMPORAL_TLS_CLIENT_KEY_DATA", "TEMPORAL_TLS_KEY_DATA"),
		str("tls-ca-path", "`FILE` (PEM) of the CAs that verify the server (default: the system's)", &o.CAPath, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_CA"),
		str("tls-ca-data", "CAs that verify the server, as `PEM` text", &o.CAData, "TEMPORAL_TLS_SERVER_CA_CERT_DATA", "TEMPORAL_TLS_CA_DATA"),
		str("tls-server-name", "`NAME` the server's certificate must hold (default: the host of --address)", &o.ServerName, "TEMPORAL_TLS_SERVER_NAME"),
		&cli.BoolFlag{Name: "tls-disable-host-verification", Usage: "accept a server certificate for any name (its CA is still verified)",
			EnvVars: []string{"TEMPORAL_TLS_DISABLE_HOST_VERIFICATION"}, Destination: &o.DisableHostVerification, Category: connCategory},
		&cli.StringFlag{Name: "api-key", Usage: "API `KEY` sent as a bearer token with every call (never printed)",
			EnvVars: []string{"TEMPORAL_API_KEY"}, Destination: (*string)(&o.APIKey), Category: connCategory},
	}
}

// pair is a credential given either as a file or as PEM text.
type pair struct {
	pathFlag, dataFlag string
	path, data         string
}

func (o ConnOptions) pairs() (cert, key, ca pair) {
	return pair{"--tls-cert-path", "--tls-cert-data", o.CertPath, o.CertData},
		pair{"--tls-key-path", "--tls-key-data", o.KeyPath, o.KeyData},
		pair{"--tls-ca-path", "--tls-ca-data", o.CAPath, o.CAData}
}

func (p pair) set() bool { return p.path != "" || p.data != "" }

// flag is the flag that gave the credential.
func (p pair) flag() string {
	if p.path != "" {
		return p.pathFlag
	}
	return p.dataFlag
}

// read returns the PEM of the credential, from the file or the flag.
func (p pair) read() ([]byte, error) {
	if p.path == "" {
		return []byte(p.data), nil
	}
	b, err := os.ReadFile(p.path)
	if err != nil {
		return nil, &credentialError{flag: p.pathFlag, path: p.path, err: err}
	}
	return b, nil
}

// check rejects flags that contradict each other. It reads no file: commands that never dial do not fail on them.
func (o ConnOptions) check() error {
	cert, key, ca := o.pairs()
	for _, p := range []pair{cert, key, ca} {
		if p.path != "" && p.data != "" {
			return usagef("", "%s and %s exclude each other: pass one", p.pathFlag, p.dataFlag)
		}
	}
	if cert.set() != key.set() {
		if cert.set() {
			return usagef("", "%s needs the client's private key: pass --tls-key-path", cert.flag())
		}
		return usagef("", "%s needs the client's certificate: pass --tls-cert-path", key.flag())
	}
	if o.tlsSet && !o.TLS {
		if f := o.tlsOnlyFlag(); f != "" {
			return usagef("", "--tls=false conflicts with %s", f)
		}
	}
	return nil
}

// tlsOnlyFlag is the first flag given that only makes sense with TLS, or "".
func (o ConnOptions) tlsOnlyFlag() string {
	cert, _, ca := o.pairs()
	switch {
	case cert.set():
		return cert.flag()
	case ca.set():
		return ca.flag()
	case o.ServerName != "":
		return "--tls-server-name"
	case o.DisableHostVerification:
		return "--tls-disable-host-verification"
	}
	return ""
}

// enabled reports whether the connection uses TLS.
func (o ConnOptions) enabled() bool {
	if o.tlsSet {
		return o.TLS
	}
	return o.tlsOnlyFlag() != "" || o.APIKey != ""
}

// apply sets the security of d from the flags: it reads the files and builds the TLS configuration. A missing or
// malformed credential is a *credentialError naming its flag.
func (o ConnOptions) apply(d *worker.DialOptions) error {
	d.APIKey = string(o.APIKey)
	if !o.enabled() {
		d.TLSDisabled = true
		return nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	cert, key, ca := o.pairs()
	if ca.set() {
		pem, err := ca.read()
		if err != nil {
			return err
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return &credentialError{flag: ca.flag(), path: ca.path, err: errors.New("holds no PEM certificate")}
		}
	}
	if cert.set() {
		certPEM, err := cert.read()
		if err != nil {
			return err
		}
		keyPEM, err := key.read()
		if err != nil {
			return err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return &credentialError{flag: cert.flag() + " and " + key.flag(), err: err}
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	if o.DisableHostVerification {
		// Go's InsecureSkipVerify skips every check; this puts back all of them but the name.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = verifyChainOnly(conf.RootCAs)
	}
	d.TLS = conf
	return nil
}

// verifyChainOnly verifies that the server's certificate chains to roots (nil: the system's), for any host name.
func verifyChainOnly(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
		if err != nil {
			return fmt.Errorf("tls: failed to verify certificate: %w", err)
		}
		return nil
	}
}

// credentialError is a TLS credential that could not be read or parsed.
type credentialError struct {
	// flag names the flag (or flags) that gave it.
	flag string
	path string
	err  error
}

func (e *credentialError) Error() string {
	switch {
	case errors.Is(e.err, fs.ErrNotExist):
		return fmt.Sprintf("%s %s: no such file", e.flag, e.path)
	case e.path != "":
		return fmt.Sprintf("%s %s: %v", e.flag, e.path, e.err)
	}
	return fmt.Sprintf("%s: %v", e.flag, e.err)
}

func (e *credentialError) Unwrap() error { return e.err }

func (e *credentialError) hint() string {
	switch {
	case strings.Contains(e.flag, " and "):
		return "pass a certificate and the private key it was made with"
	case strings.HasSuffix(e.flag, "-path"):
		return "pass a readable PEM file, or the PEM itself with " + strings.TrimSuffix(e.flag, "-path") + "-data"
	}
	return "pass a readable PEM file"
}

// describeConnFailure explains a failed connection whose cause is TLS or credentials, and reports whether it was.
func describeConnFailure(err error, unreachable *unreachableError) (report, bool) {
	where := "Temporal"
	if unreachable != nil {
		where += " at " + unreachable.address
	}
	msg := rootCause(err).Error()
	if st, ok := status.FromError(rootCause(err)); ok {
		if st.Code() == codes.Unauthenticated || st.Code() == codes.PermissionDenied {
			return report{
				message: fmt.Sprintf("%s refused the credentials (%s)", where, oneLine(st.Message())),
				hint:    "check --api-key (TEMPORAL_API_KEY) or the client certificate (--tls-cert-path, --tls-key-path)",
				code:    exitUnreachable,
			}, true
		}
		msg = st.Message()
	}
	tlsReport := func(hint string) (report, bool) {
		return report{message: fmt.Sprintf("TLS handshake with %s failed (%s)", where, causeText(err)), hint: hint, code: exitUnreachable}, true
	}
	switch {
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return tlsReport("pass the CA that signed the server's certificate with --tls-ca-path (TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: certificate is not valid for any names"),
		strings.Contains(msg, "cannot validate certificate for"):
		return tlsReport("pass --tls-server-name with a name in the server's certificate (TEMPORAL_TLS_SERVER_NAME)")
	case strings.Contains(msg, "remote error: tls: certificate required"), strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate authority"), strings.Contains(msg, "remote error: tls: expired certificate"):
		return tlsReport("the server wants a client certificate it trusts: pass --tls-cert-path and --tls-key-path")
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return tlsReport("the server does not speak TLS: drop the TLS flags, or pass --tls=false")
	case strings.Contains(msg, "x509:"), strings.Contains(msg, "tls:"):
		return tlsReport("check --tls-ca-path and --tls-server-name against the server's certificate")
	case unreachable != nil && unreachable.tls && closedEarly(msg):
		// A server that refuses the client's certificate may only close the connection: with TLS 1.3 the
		// client's side of the handshake has already succeeded, and its next read or write finds it closed.
		if !unreachable.clientCert {
			return tlsReport("the server may want a client certificate: pass --tls-cert-path and --tls-key-path")
		}
		return tlsReport("the server may not trust the client certificate: check --tls-cert-path against its client CA")
	case closedEarly(msg):
		// A TLS server closes a plaintext connection without a word.
		return report{
			message: fmt.Sprintf("%s closed the connection (%s)", where, causeText(err)),
			hint:    "the server may require TLS: pass --tls with --tls-ca-path, and for mutual TLS --tls-cert-path and --tls-key-path",
			code:    exitUnreachable,
		}, true
	}
	return report{}, false
}

// closedEarly reports a gRPC connection that the server closed before the HTTP/2 prefaces were exchanged.
func closedEarly(msg string) bool {
	for _, s := range []string{"server preface", "client preface", "connection reset by peer", "broken pipe"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
