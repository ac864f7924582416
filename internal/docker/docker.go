// Package docker is Ferry's adapter to a Docker engine: it builds images from a context directory, tags and
// pushes them to a registry, and runs a service's replicas as labelled containers that it reconciles by label.
//
// Every container Ferry runs carries the labels below. They are the only state: a worker that restarts finds its
// containers again by listing them, so every method here is safe to call again after a crash.
package docker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	dockerregistry "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"

	"github.com/ferryhq/ferry/internal/registry"
)

// Labels that identify the containers Ferry runs.
const (
	LabelService = "ferry.service"
	LabelEnv     = "ferry.env"
	LabelVersion = "ferry.version"
	LabelTrack   = "ferry.track"
	LabelDigest  = "ferry.digest"
	// LabelConfig holds a hash of a replica's environment variables and port, so that a changed configuration
	// replaces the containers even when the image digest stays the same.
	LabelConfig = "ferry.config"
	// LabelLiveness holds a container's liveness check, which Supervise reads (see Liveness).
	LabelLiveness = "ferry.liveness"
)

// Client talks to one Docker engine. It is safe for concurrent use.
type Client struct {
	api *client.Client
	// logins finds the credential for a registry host when the engine pulls an image; nil pulls anonymously.
	logins func(host string) (registry.Login, error)
	// install scopes the containers the client sees and labels (see UseInstall); empty sees all.
	install string
}

// UseLogins makes the engine pull images with the credential logins returns for the image's registry host
// (the zero Login pulls anonymously). It is asked at each pull, so a rotated secret is read afresh. Call it
// before the client is used.
func (c *Client) UseLogins(logins func(host string) (registry.Login, error)) { c.logins = logins }

// registryAuth is the engine's X-Registry-Auth value for ref's registry: login's credential, or anonymousAuth
// for the zero Login.
func registryAuth(ref string, login registry.Login) (string, error) {
	if login.Username == "" {
		return anonymousAuth, nil
	}
	host, err := registry.Host(ref)
	if err != nil {
		return "", err
	}
	return dockerregistry.EncodeAuthConfig(dockerregistry.AuthConfig{Username: login.Username, Password: login.Password, ServerAddress: host})
}

// New connects to the engine at host, e.g. "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375" or
// "ssh://deploy@build-1"; an empty host means the platform's default socket. It is Connect with an Endpoint of
// host alone: a plain tcp:// host that is not on loopback is refused (see Endpoint). It reads no environment
// variables: the caller passes DOCKER_HOST in. opts are applied last.
func New(host string, opts ...client.Opt) (*Client, error) {
	return Connect(Endpoint{Host: host}, opts...)
}

// Connect makes a client of the engine at e, once e.Check passes; a tcp:// endpoint's TLS files are read now.
// It does not contact the engine: the API version is negotiated on first use, so engines older than the SDK
// work. opts are applied last.
func Connect(e Endpoint, opts ...client.Opt) (*Client, error) {
	if err := e.Check(); err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	base, err := e.options()
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	api, err := client.NewClientWithOpts(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("docker: connect: %w", err)
	}
	return &Client{api: api}, nil
}

// EngineID returns the engine's ID, as `docker info` shows it: what tells one engine from another, whatever
// address reaches it. It asks the engine each time (an address may come to reach another engine), and only
// reads.
func (c *Client) EngineID(ctx context.Context) (string, error) {
	info, err := c.api.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("docker: info: %w", err)
	}
	if info.ID == "" {
		return "", errors.New("docker: info: the engine reports no ID")
	}
	return info.ID, nil
}

// API returns the underlying SDK client, for callers that need an engine call this package does not wrap.
func (c *Client) API() *client.Client { return c.api }

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// anonymousAuth is an empty registry credential. The engine accepts pushes and pulls to registries that need no
// login with it; sending it avoids relying on how each engine version treats a missing auth header.
var anonymousAuth = base64.URLEncoding.EncodeToString([]byte("{}"))
