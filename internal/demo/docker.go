package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	ocireg "github.com/google/go-containerregistry/pkg/registry"

	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/router"
)

// appPackage is the demo service's main package, which StartDocker builds from Ferry's module.
const appPackage = "github.com/ferryhq/ferry/testdata/demoapp"

// Versions the demo releases on Docker: Previous first, so that production has a stable version for Version to
// canary against.
const Previous = "0.9.0"

// Hosts of the router that select the demo's environments on the Docker platform: both resolve to loopback
// without any setup.
const (
	productionHost = "127.0.0.1"
	stagingHost    = "localhost"
)

// Reachable returns nil when the Docker engine at host ("" for the default socket) answers a ping within
// timeout, and otherwise the reason it does not.
func Reachable(ctx context.Context, host string, timeout time.Duration) error {
	c, err := docker.New(host)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.API().Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

// DockerOptions configure StartDocker.
type DockerOptions struct {
	// Host is the Docker engine's address; empty means the default socket.
	Host string
	// Dir is the example's directory (Options.Dir): StartDocker puts the demo service's build context in its
	// app directory.
	Dir string
	// Logger receives the router's records. Default: none.
	Logger *slog.Logger
	// Install is the install of the worker that releases the demo (worker.Options.Install, by default its task
	// queue): Close removes that install's containers of the demo and no other's.
	Install string
}

// Docker is what a release of the demo on the Docker platform needs besides the worker: an engine, an OCI
// registry on loopback, and a Ferry router, both in this process. Pass it as Options.Docker; the worker's Docker
// platform must route through Admin with Token. Close stops it and removes what the demo made on the engine.
type Docker struct {
	// Registry is the registry's host:port on loopback.
	Registry string
	// Traffic is the router's traffic listener, host:port on loopback.
	Traffic string
	// Admin is the URL of the router's admin API, and Token its bearer token.
	Admin, Token string

	eng      *docker.Client
	registry *http.Server
	cancel   context.CancelFunc
	served   chan error
}

// StartDocker builds the demo service as a static binary (CGO_ENABLED=0 go build, run in the working directory,
// which must be inside Ferry's module), writes it with a Dockerfile FROM scratch for each version into
// opts.Dir/app, and starts the registry and the router on loopback. The images themselves are built by the
// release, through the spec's image.build.
func StartDocker(ctx context.Context, opts DockerOptions) (_ *Docker, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	app := filepath.Join(opts.Dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return nil, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(app, "demoapp"), appPackage)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the demo service (go build %s, from a checkout of Ferry): %w\n%s", appPackage, err, out)
	}
	for _, v := range []string{Previous, Version} {
		// The label gives each version an image, and so a digest, of its own.
		df := fmt.Sprintf("FROM scratch\nCOPY demoapp /demoapp\nLABEL org.example.demo.version=%s\nEXPOSE 8080\nENTRYPOINT [\"/demoapp\"]\n", v)
		if err := os.WriteFile(filepath.Join(app, "Dockerfile."+v), []byte(df), 0o644); err != nil {
			return nil, err
		}
	}

	d := &Docker{}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.stop())
		}
	}()
	if d.eng, err = docker.New(opts.Host); err != nil {
		return nil, err
	}
	d.eng.UseInstall(opts.Install)
	regLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	d.Registry = regLn.Addr().String()
	d.registry = &http.Server{Handler: ocireg.New(ocireg.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.registry.Serve(regLn) }() // returns when stop closes it

	token := make([]byte, 16)
	_, _ = rand.Read(token)
	d.Token = hex.EncodeToString(token)
	r, err := router.New(router.Options{Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		traffic.Close()
		return nil, fmt.Errorf("router: %w", err)
	}
	d.Traffic, d.Admin = traffic.Addr().String(), "http://"+admin.Addr().String()
	var rctx context.Context
	rctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.served = make(chan error, 1)
	go func() {
		d.served <- r.Serve(rctx, traffic, admin, router.ServeOptions{AdminToken: d.Token, DrainTimeout: 2 * time.Second})
	}()
	return d, nil
}

// URL is the address where the router serves the demo in env.
func (d *Docker) URL(env string) string {
	_, port, _ := net.SplitHostPort(d.Traffic)
	host := stagingHost
	if env == gateEnv {
		host = productionHost
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// repository is the demo service's image repository in the registry.
func (d *Docker) repository() string { return d.Registry + "/" + Service }

// Close removes the demo's containers in both environments and its images from the engine, then stops the
// router and the registry. Call it once the worker has stopped, so that no deploy starts a container after it.
// It is bounded by ctx; calling it again is safe.
func (d *Docker) Close(ctx context.Context) error {
	var errs []error
	if d.eng != nil {
		for _, env := range []string{"staging", gateEnv} {
			if _, err := d.eng.Remove(ctx, Service, env, "", 2*time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if _, err := d.eng.RemoveImages(ctx, d.repository()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, d.stop())...)
}

func (d *Docker) stop() error {
	var err error
	if d.cancel != nil {
		d.cancel()
		err = <-d.served
		d.cancel, d.served = nil, nil
	}
	if d.registry != nil {
		err = errors.Join(err, d.registry.Close())
		d.registry = nil
	}
	if d.eng != nil {
		err = errors.Join(err, d.eng.Close())
		d.eng = nil
	}
	return err
}
