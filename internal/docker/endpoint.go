package docker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/docker/docker/client"
)

// ErrPlainTCP is the refusal of a plain tcp:// address that is not on loopback, without Insecure.
var ErrPlainTCP = errors.New("plain tcp:// to a host that is not on loopback would send the engine's API, which is " +
	"root on that machine, unencrypted and to anyone who answers")

// Endpoint says how to reach one engine: its address and, for tcp://, how the connection is secured.
//
// The engine's API is root on the engine's machine, so a plain tcp:// address is accepted only on loopback
// (127.0.0.0/8, ::1, localhost), or with Insecure. Whatever the address, the client connects directly: it
// never goes through an HTTP proxy of the environment (HTTP_PROXY and the like).
type Endpoint struct {
	// Host is the engine's address: unix:///var/run/docker.sock, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT] or
	// npipe://...; empty means the platform's default socket.
	Host string
	// TLS secures a tcp:// Host: the engine's certificate is verified against TLS.CA (the system's roots
	// without one), always, and TLS.Cert and TLS.Key, when set, are the client certificate the engine asks for.
	// Nil: plain tcp://. Only tcp:// takes it.
	TLS *TLSFiles
	// Insecure accepts a plain tcp:// Host that is not on loopback: anyone on the path can read and drive the
	// engine. Only tcp:// without TLS takes it.
	Insecure bool
}

// TLSFiles are the PEM files that secure a tcp:// connection to an engine.
type TLSFiles struct {
	// CA holds the certificate authorities that verify the engine's certificate; empty means the system's.
	CA string
	// Cert and Key are the client certificate and its key, which an engine that verifies its clients asks for:
	// both or neither.
	Cert, Key string
}

// Check reports what makes e unusable, without reading a file or contacting the engine: an unknown scheme, an
// ssh:// address Ferry cannot dial, TLS or Insecure on another scheme than tcp://, a client certificate
// without its key, or a plain tcp:// address that is not on loopback without Insecure.
func (e Endpoint) Check() error {
	if e.Host == "" {
		return e.onlyTCP("the default socket")
	}
	scheme, _, ok := strings.Cut(e.Host, "://")
	if !ok {
		return fmt.Errorf("%q is not a Docker address (unix://, tcp://, ssh:// or npipe://)", e.Host)
	}
	switch scheme {
	case "unix", "npipe":
		return e.onlyTCP(e.Host)
	case "ssh":
		if _, err := parseSSH(e.Host); err != nil {
			return err
		}
		return e.onlyTCP(e.Host + " (ssh secures it)")
	case "tcp":
		return e.checkTCP()
	}
	return fmt.Errorf("%q is not a Docker address (unix://, tcp://, ssh:// or npipe://)", e.Host)
}

// onlyTCP refuses TLS and Insecure on an address that is not tcp:// (what names it).
func (e Endpoint) onlyTCP(what string) error {
	if e.TLS != nil || e.Insecure {
		return fmt.Errorf("TLS and insecure apply to tcp:// addresses only, not to %s", what)
	}
	return nil
}

func (e Endpoint) checkTCP() error {
	u, err := url.Parse(e.Host)
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%q is not a tcp://HOST:PORT address", e.Host)
	}
	switch {
	case e.TLS != nil && e.Insecure:
		return fmt.Errorf("%s: set TLS or insecure, not both", e.Host)
	case e.TLS != nil && (e.TLS.Cert == "") != (e.TLS.Key == ""):
		return fmt.Errorf("%s: a TLS client certificate needs its key, and a key its certificate", e.Host)
	case e.TLS == nil && !e.Insecure && !loopback(u.Hostname()):
		return fmt.Errorf("%s: %w: configure TLS for it (a CA, a client certificate and key), or accept that risk "+
			"explicitly as insecure", e.Host, ErrPlainTCP)
	}
	return nil
}

// loopback reports whether host (a name or an address, without a port) is this machine's loopback.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// options are the SDK client's options for e, which Check passed.
func (e Endpoint) options() ([]client.Opt, error) {
	base := []client.Opt{client.WithAPIVersionNegotiation()}
	scheme, _, _ := strings.Cut(e.Host, "://")
	switch {
	case e.Host == "":
		return base, nil
	case scheme == "ssh":
		target, err := parseSSH(e.Host)
		if err != nil {
			return nil, err
		}
		return append(base, target.options()...), nil
	case scheme == "tcp":
		var cfg *tls.Config
		if e.TLS != nil {
			var err error
			if cfg, err = e.TLS.config(); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Host, err)
			}
		}
		return append(base, direct(e.Host, cfg)...), nil
	}
	return append(base, client.WithHost(e.Host)), nil
}

// direct are the options of a tcp:// host: a transport of its own that never uses a proxy, with cfg (nil for
// plain tcp://). The SDK's WithHost sets the environment's proxy on the transport, so the last option takes it
// off again.
func direct(host string, cfg *tls.Config) []client.Opt {
	tr := &http.Transport{}
	return []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}),
		client.WithHost(host),
		func(*client.Client) error {
			tr.Proxy = nil
			tr.TLSClientConfig = cfg
			return nil
		},
	}
}

// config reads the files into a client TLS configuration that verifies the engine.
func (f *TLSFiles) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls ca: " + f.CA + " holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
