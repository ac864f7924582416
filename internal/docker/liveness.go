package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/errdefs"
)

// Liveness is the HTTP check that keeps a container running: Supervise sends GET Path to the container's port
// every Interval, each bounded by Timeout, and restarts the container after Retries failures in a row.
type Liveness struct {
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	Retries  int
}

func (l *Liveness) validate() error {
	if l == nil {
		return nil
	}
	if l.Path == "" || l.Path[0] != '/' || l.Interval <= 0 || l.Timeout <= 0 || l.Retries < 1 {
		return fmt.Errorf("liveness %+v: want a path starting with /, a positive interval and timeout, and retries of 1 or more", *l)
	}
	return nil
}

// livenessLabel is the JSON in LabelLiveness: the check, the container port it probes, and the stop timeout
// of a restart.
type livenessLabel struct {
	Path        string `json:"path"`
	Port        int    `json:"port"`
	Interval    string `json:"interval"`
	Timeout     string `json:"timeout"`
	Retries     int    `json:"retries"`
	StopTimeout string `json:"stopTimeout,omitempty"`
}

func (l *Liveness) label(port int, stopTimeout time.Duration) string {
	ll := livenessLabel{Path: l.Path, Port: port, Interval: l.Interval.String(), Timeout: l.Timeout.String(), Retries: l.Retries}
	if stopTimeout > 0 {
		ll.StopTimeout = stopTimeout.String()
	}
	b, _ := json.Marshal(ll)
	return string(b)
}

// parseLivenessLabel reads LabelLiveness.
func parseLivenessLabel(s string) (Liveness, int, time.Duration, error) {
	var ll livenessLabel
	if err := json.Unmarshal([]byte(s), &ll); err != nil {
		return Liveness{}, 0, 0, err
	}
	l := Liveness{Path: ll.Path, Retries: ll.Retries}
	var err error
	if l.Interval, err = time.ParseDuration(ll.Interval); err != nil {
		return Liveness{}, 0, 0, err
	}
	if l.Timeout, err = time.ParseDuration(ll.Timeout); err != nil {
		return Liveness{}, 0, 0, err
	}
	var stop time.Duration
	if ll.StopTimeout != "" {
		if stop, err = time.ParseDuration(ll.StopTimeout); err != nil {
			return Liveness{}, 0, 0, err
		}
	}
	if ll.Port <= 0 {
		return Liveness{}, 0, 0, errors.New("no port")
	}
	return l, ll.Port, stop, l.validate()
}

// SuperviseOptions configure Supervise.
type SuperviseOptions struct {
	// Logger receives a record for every restart, and for an engine that stops or starts answering. Default
	// slog.Default().
	Logger *slog.Logger
	// Every is how often the running containers are listed; default 1s. A container's own Interval spaces its
	// probes.
	Every time.Duration
	// Parallel bounds the probes in flight at once; default 8.
	Parallel int
	// MaxBackoff caps the wait before the first probe after a restart, which doubles with each restart in a
	// row that no passing probe followed; default 5m.
	MaxBackoff time.Duration
	// OnRestart, if set, is called after each restart Supervise makes (err is the restart's error, if any).
	OnRestart func(c Container, err error)
	// HTTP sends the probes; nil means a client without keep-alives, so that each probe dials the container.
	HTTP *http.Client
}

// probeState is what Supervise knows of one container.
type probeState struct {
	next         time.Time // the next probe is due
	failures     int       // failed probes in a row
	failingSince time.Time // when the first of them was sent
	restarts     int       // restarts in a row that no passing probe followed
	lastErr      string
}

// Supervise probes the liveness check of every running container of c's install (see UseInstall) with a
// LabelLiveness on the engine, and restarts a container after its Retries failures in a row, until ctx ends.
// The first probe of a container is due one Interval after Supervise first sees it; after a restart, one
// Interval doubled for each earlier restart in a row, up to MaxBackoff. A container that another supervisor
// (another worker of the install on the same engine) restarted since its failures began is not restarted
// again. An engine that does not answer is logged once (at debug
// level until it has answered once), and asked again every Every. It returns nil when ctx ends.
func (c *Client) Supervise(ctx context.Context, o SuperviseOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	states := map[string]*probeState{}
	var engineErr error
	answered := false // an engine that never answered is likely absent on purpose: say so quietly
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		err := c.superviseOnce(ctx, o, states)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && engineErr == nil && answered:
			o.Logger.Warn("liveness: the Docker engine does not answer; retrying", "error", err)
		case err != nil && engineErr == nil:
			o.Logger.Debug("liveness: no Docker engine answers; retrying", "error", err)
		case err == nil && engineErr != nil:
			o.Logger.Info("liveness: the Docker engine answers")
		}
		engineErr = err
		answered = answered || err == nil
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// superviseOnce lists the containers, probes those due and restarts those that failed too often.
func (c *Client) superviseOnce(ctx context.Context, o SuperviseOptions, states map[string]*probeState) error {
	list, err := c.api.ContainerList(ctx, container.ListOptions{Filters: c.scope(filters.NewArgs(
		filters.Arg("label", LabelLiveness), filters.Arg("status", "running")))})
	if err != nil {
		return err
	}
	type due struct {
		ct    Container
		l     Liveness
		stop  time.Duration
		st    *probeState
		addr  string
		probe error
	}
	now := time.Now()
	seen := make(map[string]bool, len(list))
	var todo []*due
	for _, s := range list {
		seen[s.ID] = true
		l, port, stop, err := parseLivenessLabel(s.Labels[LabelLiveness])
		st := states[s.ID]
		if st == nil {
			st = &probeState{next: now.Add(l.Interval)}
			states[s.ID] = st
			if err != nil {
				o.Logger.Warn("liveness: container label not understood; not probing it", "container", s.ID[:12], "error", err)
			}
		}
		if err != nil || now.Before(st.next) {
			continue
		}
		addr := ""
		for _, p := range s.Ports {
			if int(p.PrivatePort) == port && p.Type == "tcp" && p.PublicPort != 0 {
				addr = "127.0.0.1:" + strconv.Itoa(int(p.PublicPort))
				break
			}
		}
		st.next = now.Add(l.Interval)
		todo = append(todo, &due{ct: containerOf(s.ID, s.Labels), l: l, stop: stop, st: st, addr: addr})
	}
	for id := range states {
		if !seen[id] {
			delete(states, id)
		}
	}

	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, d := range todo {
		if d.addr == "" {
			d.probe = errors.New("the port is not published")
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.probe = probeFor(ctx, o.HTTP, "http://"+d.addr+d.l.Path, d.l.Timeout)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}

	for _, d := range todo {
		st := d.st
		if d.probe == nil {
			st.failures, st.restarts = 0, 0
			continue
		}
		if st.failures == 0 {
			st.failingSince = now
		}
		st.failures++
		st.lastErr = d.probe.Error()
		if st.failures < d.l.Retries {
			continue
		}
		st.failures = 0
		if info, err := c.api.ContainerInspect(ctx, d.ct.ID); err == nil && info.State != nil {
			if started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err == nil && started.After(st.failingSince) {
				continue // restarted by someone else since the failures began
			}
		}
		err := c.restart(ctx, d.ct.ID, d.stop)
		st.restarts++
		backoff := d.l.Interval << min(st.restarts-1, 16)
		st.next = time.Now().Add(min(backoff, o.MaxBackoff))
		log := o.Logger.With("container", d.ct.Name, "service", d.ct.Service, "env", d.ct.Env, "track", d.ct.Track,
			"version", d.ct.Version, "failures", d.l.Retries, "lastError", st.lastErr, "restartsInARow", st.restarts)
		if err != nil {
			log.Error("liveness: restart failed", "error", err)
		} else {
			log.Warn("liveness: container restarted after failing its liveness check")
		}
		if o.OnRestart != nil {
			o.OnRestart(d.ct, err)
		}
	}
	return nil
}

// containerOf describes a listed container by its labels.
func containerOf(id string, labels map[string]string) Container {
	return Container{ID: id, Name: id[:12], Service: labels[LabelService], Env: labels[LabelEnv], Track: labels[LabelTrack],
		Version: labels[LabelVersion], Digest: labels[LabelDigest], State: "running"}
}

// probeFor sends one GET as readiness does, bounded by timeout: only a 200 passes.
func probeFor(ctx context.Context, hc *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if msg := probe(ctx, hc, url); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// restart stops the container, giving it stopTimeout (10s if zero) to exit, and starts it again. Its port
// binding, and so its address, stays the same.
func (c *Client) restart(ctx context.Context, id string, stopTimeout time.Duration) error {
	if stopTimeout <= 0 {
		stopTimeout = 10 * time.Second
	}
	secs := int(stopTimeout.Round(time.Second) / time.Second)
	if err := c.api.ContainerRestart(ctx, id, container.StopOptions{Timeout: &secs}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("docker: restart %.12s: %w", id, err)
	}
	return nil
}
