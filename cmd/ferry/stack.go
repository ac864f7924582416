package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/worker"
)

// stack is an embedded Temporal server (with its UI and Ferry's search attributes), a client of it and,
// unless disabled, a worker on the task queue.
type stack struct {
	server *devserver.Server
	client client.Client
	worker *worker.Worker
	// g is the caller's options, pointed at the embedded server.
	g GlobalOptions
}

// startStack starts what o asks for; `ferry demo` uses it too. Stop it with stop.
func startStack(ctx context.Context, g GlobalOptions, o DevOptions) (*stack, error) {
	serverTLS, err := o.serverTLS()
	if err != nil {
		return nil, err
	}
	var policy activities.ExecPolicy
	var cfg worker.Config
	var vault worker.VaultAuth
	if !o.NoWorker {
		if policy, cfg, err = workerSetup("dev", o.Config, o.Exec, o.Router, true); err != nil {
			return nil, err
		}
		if vault, err = o.Vault.vaultAuth("dev", cfg.Vault); err != nil {
			return nil, err
		}
		if err = g.withWorkerCodec("dev", cfg.Codec); err != nil {
			return nil, err
		}
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		IP: o.IP, Port: o.Port, UIPort: o.UIPort, DBFile: o.DBFile, Namespace: g.Namespace, Logger: g.logger,
		TLS: serverTLS, CodecEndpoint: o.UICodecEndpoint,
	})
	if err != nil {
		if inUse := portInUse(err); inUse != nil {
			return nil, inUse
		}
		return nil, fmt.Errorf("start dev server: %w", err)
	}
	s := &stack{server: srv, g: g}
	s.g.Address, s.g.UIURL = srv.FrontendHostPort(), srv.UIURL()
	s.g.devTLS = srv.ClientTLS()
	if s.client, err = s.g.dial(ctx); err != nil {
		return nil, errors.Join(err, srv.Stop())
	}
	if !o.NoWorker {
		s.worker = worker.New(s.client, worker.Options{TaskQueue: g.TaskQueue, Logger: g.logger, Exec: policy, Config: cfg,
			LookupEnv: os.LookupEnv, DockerHost: os.Getenv("DOCKER_HOST"),
			DockerCertPath: dockerCertPath(), Vault: vault, Install: o.Install})
		if err := s.worker.Start(); err != nil {
			s.client.Close()
			return nil, errors.Join(fmt.Errorf("start worker: %w", err), srv.Stop())
		}
	}
	return s, nil
}

// serverTLS reads the files of the server's TLS flags, or returns nil when TLS is off.
func (o DevOptions) serverTLS() (*devserver.TLS, error) {
	if o.TLSServerCert == "" && o.TLSServerKey == "" {
		if o.TLSClientCA != "" {
			return nil, usagef("dev", "--tls-client-ca needs --tls-server-cert and --tls-server-key")
		}
		return nil, nil
	}
	if o.TLSServerCert == "" || o.TLSServerKey == "" {
		return nil, usagef("dev", "--tls-server-cert and --tls-server-key go together: pass both")
	}
	t := &devserver.TLS{}
	files := []struct {
		flag, path string
		dst        *[]byte
	}{
		{"--tls-server-cert", o.TLSServerCert, &t.CertPEM},
		{"--tls-server-key", o.TLSServerKey, &t.KeyPEM},
		{"--tls-client-ca", o.TLSClientCA, &t.ClientCAPEM},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return nil, &credentialError{flag: f.flag, path: f.path, err: err}
		}
		*f.dst = b
	}
	if _, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM); err != nil {
		return nil, &credentialError{flag: "--tls-server-cert and --tls-server-key", err: err}
	}
	if len(t.ClientCAPEM) > 0 && !x509.NewCertPool().AppendCertsFromPEM(t.ClientCAPEM) {
		return nil, &credentialError{flag: "--tls-client-ca", path: o.TLSClientCA, err: errors.New("holds no PEM certificate")}
	}
	return t, nil
}

// stop stops the worker (letting running activities finish, unless interrupted again), the client and the
// server.
func (s *stack) stop() error {
	if s.worker != nil {
		stopWorker(s.worker, s.g.logger)
	}
	s.client.Close()
	return s.server.Stop()
}

// portInUseError is a port of the embedded server that another process holds.
type portInUseError struct {
	port int
	// what listens there: "Temporal frontend" or "Web UI".
	what string
}

func (e *portInUseError) Error() string {
	return fmt.Sprintf("port %d (%s) is already in use", e.port, e.what)
}

// portInUse returns a *portInUseError when err is the dev server failing to bind one of the ports the user
// chose (or defaulted), else nil.
func portInUse(err error) *portInUseError {
	var op *net.OpError
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &op) {
		return nil
	}
	addr, ok := op.Addr.(*net.TCPAddr)
	if !ok {
		return nil
	}
	what := "Temporal frontend"
	if strings.Contains(err.Error(), "ui port: ") {
		what = "Web UI"
	}
	return &portInUseError{port: addr.Port, what: what}
}
