package docker

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/go-connections/nat"

	"github.com/ferryhq/ferry/internal/registry"
)

// Replicas is the desired state of one track of a service in one environment: Count running containers of
// the image Image.
type Replicas struct {
	Service string
	Env     string
	// Track is the release track, e.g. "stable" or "canary".
	Track   string
	Version string
	// Image is a reference by digest, "<repo>@sha256:...". The engine pulls it if it does not have it, with the
	// credential of UseLogins (anonymously without).
	Image string
	Count int
	// Port is the container port that serves HTTP. Each container publishes it on a random loopback port.
	Port int
	// Vars are the containers' environment variables.
	Vars map[string]string
	// StopTimeout is how long a removed container gets between SIGTERM and SIGKILL; 10 seconds if zero.
	StopTimeout time.Duration
	// Liveness, if set, is written to each container's LabelLiveness, so that Supervise probes it and restarts a
	// container that fails it.
	Liveness *Liveness
}

// Container is one container that Ferry runs, as its labels and the engine describe it.
type Container struct {
	ID      string
	Name    string
	Service string
	Env     string
	Track   string
	Version string
	Digest  string
	// State is the engine's state, e.g. "running" or "exited".
	State string
	// Addr is the published loopback address of the container's port, e.g. "127.0.0.1:49153"; empty if the
	// container is not running.
	Addr    string
	created int64
}

// Track summarises the running containers of one track.
type Track struct {
	Track    string
	Version  string
	Digest   string
	Replicas int
}

// Ensure converges the containers of (r.Service, r.Env, r.Track) to exactly r.Count running containers of
// r.Image with r.Vars: it keeps matching running containers, removes stopped ones, extras and ones with another
// digest, version or configuration, and creates the missing ones. It returns the running containers, sorted
// by ID. It is idempotent: a second call with the same Replicas changes nothing and returns the same
// containers. Calls for the same track must not run concurrently.
func (c *Client) Ensure(ctx context.Context, r Replicas) ([]Container, error) {
	digest, err := imageDigest(r.Image)
	if err != nil {
		return nil, err
	}
	if r.Service == "" || r.Env == "" || r.Track == "" {
		return nil, errors.New("docker: ensure: service, env and track are required")
	}
	if r.Count < 0 || r.Port <= 0 {
		return nil, fmt.Errorf("docker: ensure: got count %d and port %d, want count >= 0 and port > 0", r.Count, r.Port)
	}
	if err := r.Liveness.validate(); err != nil {
		return nil, fmt.Errorf("docker: ensure: %w", err)
	}
	config := configHash(r)
	existing, err := c.list(ctx, map[string]string{LabelService: r.Service, LabelEnv: r.Env, LabelTrack: r.Track})
	if err != nil {
		return nil, fmt.Errorf("docker: ensure: %w", err)
	}
	var keep []Container
	var drop []listed
	for _, ct := range existing {
		if len(keep) < r.Count && ct.State == "running" && ct.Digest == digest && ct.Version == r.Version &&
			ct.config == config {
			keep = append(keep, ct.Container)
		} else {
			drop = append(drop, ct)
		}
	}
	for _, ct := range drop {
		if err := c.remove(ctx, ct.ID, r.StopTimeout); err != nil {
			return nil, fmt.Errorf("docker: ensure: %w", err)
		}
	}
	for range r.Count - len(keep) {
		ct, err := c.run(ctx, r, digest, config)
		if err != nil {
			return nil, fmt.Errorf("docker: ensure: %w", err)
		}
		keep = append(keep, ct)
	}
	slices.SortFunc(keep, func(a, b Container) int { return cmp.Compare(a.ID, b.ID) })
	return keep, nil
}

// Current reports the running tracks of service in env, from the containers' labels, sorted by track. A track
// in the middle of a change can appear twice, once per digest.
func (c *Client) Current(ctx context.Context, service, env string) ([]Track, error) {
	cts, err := c.List(ctx, service, env)
	if err != nil {
		return nil, err
	}
	var tracks []Track
	for _, ct := range cts {
		if ct.State != "running" {
			continue
		}
		i := slices.IndexFunc(tracks, func(t Track) bool {
			return t.Track == ct.Track && t.Digest == ct.Digest && t.Version == ct.Version
		})
		if i < 0 {
			tracks = append(tracks, Track{Track: ct.Track, Version: ct.Version, Digest: ct.Digest})
			i = len(tracks) - 1
		}
		tracks[i].Replicas++
	}
	slices.SortFunc(tracks, func(a, b Track) int {
		return cmp.Or(cmp.Compare(a.Track, b.Track), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Digest, b.Digest))
	})
	return tracks, nil
}

// List returns every container, running or not, of service in env, oldest first (the engine reports creation
// times to the second; ties are in ID order).
func (c *Client) List(ctx context.Context, service, env string) ([]Container, error) {
	cts, err := c.list(ctx, map[string]string{LabelService: service, LabelEnv: env})
	if err != nil {
		return nil, fmt.Errorf("docker: list: %w", err)
	}
	out := make([]Container, len(cts))
	for i, ct := range cts {
		out[i] = ct.Container
	}
	return out, nil
}

// Remove stops and removes the containers of service in env, only those of track if track is not empty. It
// returns how many it removed. Removing again is safe and removes nothing.
func (c *Client) Remove(ctx context.Context, service, env, track string, stopTimeout time.Duration) (int, error) {
	if service == "" || env == "" {
		return 0, errors.New("docker: remove: service and env are required")
	}
	labels := map[string]string{LabelService: service, LabelEnv: env}
	if track != "" {
		labels[LabelTrack] = track
	}
	cts, err := c.list(ctx, labels)
	if err != nil {
		return 0, fmt.Errorf("docker: remove: %w", err)
	}
	for _, ct := range cts {
		if err := c.remove(ctx, ct.ID, stopTimeout); err != nil {
			return 0, fmt.Errorf("docker: remove: %w", err)
		}
	}
	return len(cts), nil
}

type listed struct {
	Container
	config string
}

func (c *Client) list(ctx context.Context, labels map[string]string) ([]listed, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	sums, err := c.api.ContainerList(ctx, container.ListOptions{All: true, Filters: c.scope(args)})
	if err != nil {
		return nil, err
	}
	out := make([]listed, 0, len(sums))
	for _, s := range sums {
		ct := Container{
			ID:      s.ID,
			Service: s.Labels[LabelService],
			Env:     s.Labels[LabelEnv],
			Track:   s.Labels[LabelTrack],
			Version: s.Labels[LabelVersion],
			Digest:  s.Labels[LabelDigest],
			State:   string(s.State),
			created: s.Created,
		}
		if len(s.Names) > 0 {
			ct.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		for _, p := range s.Ports {
			if p.PublicPort != 0 && p.Type == "tcp" {
				ct.Addr = fmt.Sprintf("127.0.0.1:%d", p.PublicPort)
				break
			}
		}
		out = append(out, listed{Container: ct, config: s.Labels[LabelConfig]})
	}
	slices.SortFunc(out, func(a, b listed) int {
		return cmp.Or(cmp.Compare(a.created, b.created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// run creates and starts one container of r and returns it with its published address.
//
// The container publishes its port on a loopback port chosen here rather than by the engine, which would choose
// another one each time the container restarts (after a crash, or a failed liveness check) and so move it away
// from the address the router sends its traffic to. A port taken meanwhile by another process makes the start
// fail; run then tries another.
func (c *Client) run(ctx context.Context, r Replicas, digest, config string) (Container, error) {
	var err error
	for range portAttempts {
		var ct Container
		if ct, err = c.runOn(ctx, r, digest, config); !errors.Is(err, errPortTaken) {
			return ct, err
		}
	}
	return Container{}, err
}

// portAttempts bounds how many loopback ports run tries.
const portAttempts = 5

// errPortTaken is a container that could not start because its host port was taken.
var errPortTaken = errors.New("host port taken")

func (c *Client) runOn(ctx context.Context, r Replicas, digest, config string) (Container, error) {
	hostPort, err := freeLoopbackPort()
	if err != nil {
		return Container{}, err
	}
	port := nat.Port(strconv.Itoa(r.Port) + "/tcp")
	env := make([]string, 0, len(r.Vars))
	for k, v := range r.Vars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	labels := map[string]string{
		LabelService: r.Service, LabelEnv: r.Env, LabelTrack: r.Track,
		LabelVersion: r.Version, LabelDigest: digest, LabelConfig: config,
	}
	if r.Liveness != nil {
		labels[LabelLiveness] = r.Liveness.label(r.Port, r.StopTimeout)
	}
	if c.install != "" {
		labels[LabelInstall] = c.install
	}
	cfg := &container.Config{
		Image:        r.Image,
		Env:          env,
		ExposedPorts: nat.PortSet{port: {}},
		Labels:       labels,
	}
	host := &container.HostConfig{
		PortBindings: nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hostPort)}}},
		// A process that crashes is restarted in place; one that Ferry stops stays stopped.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure},
	}
	name := containerName(r)
	created, err := c.api.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if errdefs.IsNotFound(err) {
		if err = c.pull(ctx, r.Image); err == nil {
			created, err = c.api.ContainerCreate(ctx, cfg, host, nil, nil, name)
		}
	}
	if err != nil {
		return Container{}, fmt.Errorf("create %s: %w", name, err)
	}
	if err := c.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		// A container that never started is no use to a later call; don't leave it behind.
		_ = c.remove(context.WithoutCancel(ctx), created.ID, time.Second)
		if msg := err.Error(); strings.Contains(msg, "address already in use") || strings.Contains(msg, "port is already allocated") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return Container{}, fmt.Errorf("start %s: %w", name, err)
	}
	info, err := c.api.ContainerInspect(ctx, created.ID)
	if err != nil {
		return Container{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	ct := Container{
		ID: created.ID, Name: name, Service: r.Service, Env: r.Env, Track: r.Track,
		Version: r.Version, Digest: digest, State: info.State.Status,
	}
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[port] {
			ct.Addr = "127.0.0.1:" + b.HostPort
			break
		}
	}
	return ct, nil
}

// freeLoopbackPort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("choose a host port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pull pulls ref with the credential of UseLogins for its registry, else anonymously.
func (c *Client) pull(ctx context.Context, ref string) error {
	auth := anonymousAuth
	if c.logins != nil {
		host, err := registry.Host(ref)
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		login, err := c.logins(host)
		if err != nil {
			return fmt.Errorf("pull %s: registry login: %w", ref, err)
		}
		if auth, err = registryAuth(ref, login); err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
	}
	body, err := c.api.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer body.Close()
	if err := readStream(body, func(jsonmessage.JSONMessage) error { return nil }); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	_, err = io.Copy(io.Discard, body)
	return err
}

// remove stops a container, giving it stopTimeout to exit, and removes it. A container that is already gone
// is not an error.
func (c *Client) remove(ctx context.Context, id string, stopTimeout time.Duration) error {
	if stopTimeout <= 0 {
		stopTimeout = 10 * time.Second
	}
	secs := int(stopTimeout.Round(time.Second) / time.Second)
	if err := c.api.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop %.12s: %w", id, err)
	}
	err := c.api.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		return fmt.Errorf("remove %.12s: %w", id, err)
	}
	return nil
}

var digestRef = regexp.MustCompile(`@(sha256:[0-9a-f]{64})$`)

// imageDigest returns the digest of a reference by digest.
func imageDigest(ref string) (string, error) {
	m := digestRef.FindStringSubmatch(ref)
	if m == nil {
		return "", fmt.Errorf("docker: image %q is not a reference by digest (<repo>@sha256:...)", ref)
	}
	return m[1], nil
}

// configHash identifies a replica's configuration other than its image.
func configHash(r Replicas) string {
	keys := make([]string, 0, len(r.Vars))
	for k := range r.Vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	fmt.Fprintf(h, "port=%d\n", r.Port)
	if r.Liveness != nil {
		fmt.Fprintf(h, "liveness=%s\n", r.Liveness.label(r.Port, r.StopTimeout))
	}
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, r.Vars[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is unique and tells a person at `docker ps` what the container is.
func containerName(r Replicas) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return nameUnsafe.ReplaceAllString(fmt.Sprintf("ferry-%s-%s-%s-%x", r.Service, r.Env, r.Track, b), "-")
}
