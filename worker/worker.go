// Package worker wires Ferry's worker: it builds the real clients the activities need and registers every
// workflow and activity under its recorded name. `ferry worker` and `ferry dev` use it; so do integration tests.
package worker

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/docker"
	"github.com/ferryhq/ferry/internal/execrun"
	"github.com/ferryhq/ferry/internal/probe"
	"github.com/ferryhq/ferry/internal/registry"
	"github.com/ferryhq/ferry/internal/router"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/internal/vault"
	"github.com/ferryhq/ferry/workflows"
)

// DefaultTaskQueue is the task queue of Options.TaskQueue when it is empty, and the CLI's default.
const DefaultTaskQueue = "ferry"

// DefaultWorkerStopTimeout is Options.WorkerStopTimeout when it is zero: the default timeout of one platform
// command, so that a command within its default limit always gets to finish.
const DefaultWorkerStopTimeout = 5 * time.Minute

// heartbeatThrottle caps how long the SDK holds back an activity's heartbeats. A cancellation reaches a running
// command only in the answer to a heartbeat, so this (with the activities' own heartbeat interval) bounds how
// long a cancelled command runs on; the SDK's default would be most of the heartbeat timeout.
const heartbeatThrottle = time.Second

// checkStopGrace is the stop grace period of exec checks.
const checkStopGrace = 2 * time.Second

// ErrInterrupted is the cause with which Interrupt cancels running activities.
var ErrInterrupted = errors.New("worker interrupted")

// Options configure New.
type Options struct {
	// TaskQueue is the queue the worker polls, for workflows and activities alike. Default DefaultTaskQueue.
	TaskQueue string
	// Logger receives the worker's own records. The SDK logs through the client's logger, which Dial sets.
	// Default slog.Default().
	Logger *slog.Logger
	// WorkerStopTimeout bounds a graceful stop: how long Stop lets running activities, and so the platform
	// commands they run, finish before it cancels them. A process supervisor should allow this plus the
	// commands' stop grace period (execrun.DefaultStopGrace) between its SIGTERM and its SIGKILL. Default
	// DefaultWorkerStopTimeout.
	WorkerStopTimeout time.Duration
	// Exec is what commands may do: the programs they may run, the root their working directory resolves
	// against and their environment. The zero value runs nothing: every release is refused at admission.
	Exec activities.ExecPolicy
	// Redact is the redaction hook every string leaving an activity passes through. Nil redacts nothing.
	Redact activities.Redactor
	// Config holds the endpoints and credentials of the worker's drivers and routers (Docker hosts, registries,
	// the router's admin API), from ferry-worker.yaml. Its Exec section is not read here: the caller merges it
	// into Exec, under the flags.
	Config Config
	// LookupEnv resolves the env: references of Config: registry passwords when an image is built or resolved,
	// database connection strings when a migration connects. cmd/ferry passes os.LookupEnv; nil finds no
	// variable, and such a reference is then an error.
	LookupEnv func(string) (string, bool)
	// Vault is the worker's Vault access, credentials resolved (VaultConfig.Resolve, with the --vault-* flags
	// over it). Without an address the worker resolves no secrets.
	Vault VaultAuth
	// DockerHost is the address of the Docker host "local" when Config does not name one: the caller passes
	// DOCKER_HOST; empty means the engine's default socket. Like every Docker host, a plain tcp:// address that
	// is not on loopback is refused (see docker.Endpoint); name it in Config to secure it or to accept it.
	DockerHost string
	// Install names this Ferry install on its Docker engines: the containers the worker starts carry it in
	// their ferry.install label, and the worker lists, replaces, removes and supervises no container without
	// it (see docker.Client.UseInstall). Workers that share their containers share it. Default TaskQueue.
	Install string
	// DockerCertPath is the directory of ca.pem, cert.pem and key.pem that secure a tcp:// DockerHost: the
	// caller passes DOCKER_CERT_PATH, or ~/.docker when DOCKER_TLS_VERIFY is set without it. The engine's
	// certificate is always verified (unlike the Docker CLI's, whose DOCKER_CERT_PATH without DOCKER_TLS_VERIFY
	// does not). Empty: DockerHost is plain.
	DockerCertPath string
}

// Worker is a Ferry worker: an SDK worker whose Stop lets running platform commands finish and never leaves one
// running behind it.
type Worker struct {
	sdkworker.Worker
	// interrupt cancels the context every activity's context derives from.
	interrupt context.CancelCauseFunc
	commands  *inflight
	// engines are the Docker engines whose containers' liveness the worker supervises while it runs, and whose
	// task queues it polls.
	engines    map[string]*docker.Client
	queues     *engineQueues
	logger     *slog.Logger
	supervised sync.WaitGroup
	stopLive   context.CancelFunc
	vault      *vault.Client
}

// New returns a worker, not yet started, that runs every Ferry workflow and activity on opts.TaskQueue with c.
// It registers the Release and EnvLock workflows under workflows.ReleaseWorkflow and workflows.EnvLockWorkflow,
// and the methods of the Platform, Checks, Temporal, Artifact, Migrations and Metrics activity structs under
// their method names; Metrics queries the configured Prometheus. The
// Platform activities act through the drivers that drivers registers; the exec driver, Checks and Artifact share
// opts.Exec (copied) and opts.Redact; Artifact builds on the configured Docker hosts and logs in to the configured
// registries, as the Docker driver's pulls do. The Platform and Checks activities are also served on the task
// queue of each Docker engine the worker reaches (see Start). The caller starts it with Start (the SDK's Run
// would neither poll the engines' queues nor supervise liveness) and stops it; Stop lets running activities
// finish within opts.WorkerStopTimeout.
//
// Every resolved secret value feeds one SecretRedactor in front of opts.Redact, which all the activities share,
// so that no value leaves an activity. New does not contact Vault; when opts.Vault cannot make a client (see
// VaultAuth.Check, which callers run first) it logs why and the worker resolves no secrets.
func New(c client.Client, opts Options) *Worker {
	if opts.TaskQueue == "" {
		opts.TaskQueue = DefaultTaskQueue
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WorkerStopTimeout <= 0 {
		opts.WorkerStopTimeout = DefaultWorkerStopTimeout
	}
	// A stopping SDK worker cancels its activities only once WorkerStopTimeout has passed; this context lets
	// Interrupt do it sooner.
	redactor := &activities.SecretRedactor{Next: opts.Redact}
	opts.Redact = redactor
	var secrets activities.SecretResolver
	var vc *vault.Client
	if a := opts.Vault; a.Address != "" {
		var err error
		vc, err = a.client(opts.Logger)
		if err != nil {
			opts.Logger.Error("no secret backend", "error", err)
		} else {
			secrets = vc
		}
	}
	activityCtx, interrupt := context.WithCancelCause(context.Background())
	sdkOpts := sdkworker.Options{
		WorkerStopTimeout:            opts.WorkerStopTimeout,
		BackgroundActivityContext:    activityCtx,
		MaxHeartbeatThrottleInterval: heartbeatThrottle,
	}
	w := &Worker{
		Worker:    sdkworker.New(c, opts.TaskQueue, sdkOpts),
		interrupt: interrupt,
		commands:  newInflight(),
		logger:    opts.Logger,
		vault:     vc,
	}

	w.RegisterWorkflowWithOptions(workflows.Release, workflow.RegisterOptions{Name: workflows.ReleaseWorkflow})
	w.RegisterWorkflowWithOptions(workflows.EnvLock, workflow.RegisterOptions{Name: workflows.EnvLockWorkflow})
	w.RegisterWorkflowWithOptions(workflows.PausedAnalysis, workflow.RegisterOptions{Name: workflows.PausedAnalysisWorkflow})

	policy := opts.Exec
	policy.Allow = slices.Clone(policy.Allow)
	policy.Env = slices.Clone(policy.Env)
	dk, dockerEngines := dockerDriver(opts)
	w.engines = dockerEngines
	metrics := metricSource(opts.Config.Prometheus, opts.LookupEnv)
	platform := &activities.Platform{Drivers: drivers(opts, &policy, w.commands, dk), Exec: &policy, Redact: opts.Redact,
		Secrets: secrets, NoMetrics: noMetrics(metrics)}
	w.RegisterActivity(platform)
	tracks := activities.DriverTracks{Drivers: platform.Drivers, Redact: opts.Redact}
	// A check only reads state, so it needs little time to wind down, and its activity leaves it little slack.
	checks := trackedRunner{runner: execrun.Runner{StopGrace: checkStopGrace}, commands: w.commands}
	checkActs := &activities.Checks{Runner: checks, HTTP: probe.New(), Exec: &policy, Redact: opts.Redact, Tracks: tracks}
	w.RegisterActivity(checkActs)
	// An engine's queue gets the activities of the environments bound to it: the platform's and the checks
	// that reach a track's replicas.
	sdkOpts.DisableWorkflowWorker = true
	w.queues = &engineQueues{client: c, queue: opts.TaskQueue, options: sdkOpts, logger: opts.Logger,
		running: map[string]sdkworker.Worker{}, register: func(ew sdkworker.Worker) {
			ew.RegisterActivity(platform)
			ew.RegisterActivity(checkActs)
		}}
	dk.Poll = w.queues.poll
	w.RegisterActivity(&activities.Temporal{Client: c})
	w.RegisterActivity(&activities.Artifact{Engine: engines(dockerEndpoints(opts)),
		Login: logins(opts.Config.Registries, opts.LookupEnv), Policy: &policy, Redact: opts.Redact})
	w.RegisterActivity(&activities.Migrations{Databases: databases{refs: opts.Config.Databases, lookupEnv: opts.LookupEnv}, Exec: &policy, Redact: opts.Redact})
	w.RegisterWorkflowWithOptions(workflows.Contract, workflow.RegisterOptions{Name: workflows.ContractWorkflow})
	w.RegisterActivity(&activities.Metrics{Source: metrics, Redact: opts.Redact})

	opts.Logger.Debug("ferry worker registered", "taskQueue", opts.TaskQueue, "execRoot", policy.Root, "execAllow", policy.Allow,
		"dockerHosts", opts.Config.Docker.hostNames(), "registries", slices.Sorted(maps.Keys(opts.Config.Registries)),
		"vault", opts.Vault.Address, "prometheus", opts.Config.Prometheus.Address)
	return w
}

// client makes the Vault client of a.
func (a VaultAuth) client(logger *slog.Logger) (*vault.Client, error) {
	return vault.New(vault.Config{Address: a.Address, Token: a.Token.Reveal(), RoleID: a.RoleID.Reveal(),
		SecretID: a.SecretID.Reveal(), AppRoleMount: a.AppRoleMount, Logger: logger})
}

// Check reports whether a can make a Vault client: no address (no secrets), or an address with a token or
// both AppRole credentials. It does not contact Vault.
func (a VaultAuth) Check() error {
	if a.Address == "" {
		return nil
	}
	_, err := a.client(slog.New(slog.DiscardHandler))
	return err
}

// databases resolves the databases section of the worker's configuration each time a migration activity
// connects, so that a rotated secret is picked up without a restart.
type databases struct {
	refs      map[string]SecretRef
	lookupEnv func(string) (string, bool)
}

// DSN returns the connection string of database name in env: the reference under "env/name", else "name".
func (d databases) DSN(env, name string) (string, error) {
	ref, ok := d.refs[env+"/"+name]
	if !ok {
		ref, ok = d.refs[name]
	}
	if !ok {
		return "", fmt.Errorf("the worker's configuration has no database %s (databases: %s or %s/%s)", name, name, env, name)
	}
	lookup := d.lookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	s, err := ref.Resolve(lookup, os.ReadFile)
	if err != nil {
		return "", err
	}
	return s.Reveal(), nil
}

// drivers builds the platform drivers the worker offers, by kind: the one place where a platform is registered.
// policy is the worker's exec policy; commands counts what the drivers run, so that Stop can wait for it.
func drivers(opts Options, policy *activities.ExecPolicy, commands *inflight, dk *activities.Docker) activities.Drivers {
	return activities.Drivers{
		spec.PlatformExec:   &activities.Exec{Runner: trackedRunner{runner: execrun.Runner{}, commands: commands}, Policy: policy, Redact: opts.Redact},
		spec.PlatformDocker: dk,
	}
}

// dockerDriver builds the Docker driver from the worker's Docker hosts (dockerEndpoints) and router, and
// returns it with the engines by host name. Connecting is lazy: a worker without an engine starts, and only a
// release on the Docker platform fails. A host that cannot be used (a plain tcp:// address that is not on
// loopback, a TLS file that cannot be read) is logged and refused with its reason to every release that names it.
func dockerDriver(opts Options) (*activities.Docker, map[string]*docker.Client) {
	login := logins(opts.Config.Registries, opts.LookupEnv)
	endpoints := dockerEndpoints(opts)
	engines := make(map[string]activities.DockerEngine, len(endpoints))
	clients := make(map[string]*docker.Client, len(endpoints))
	unusable := map[string]string{}
	for name, e := range endpoints {
		c, err := docker.Connect(e)
		if err != nil {
			opts.Logger.Error("docker host not usable", "host", name, "error", err)
			unusable[name] = err.Error()
			continue
		}
		c.UseLogins(login) // a deploy pulls with the worker's registry credentials
		c.UseInstall(cmp.Or(opts.Install, opts.TaskQueue))
		engines[name], clients[name] = c, c
	}
	resolve := func(ctx context.Context, ref string) (string, error) {
		host, err := registry.Host(ref)
		if err != nil {
			return "", err
		}
		l, err := login(host)
		if err != nil {
			return "", err
		}
		return registry.Pinned(ctx, ref, l)
	}
	d := &activities.Docker{Engines: engines, Unusable: unusable, Resolve: resolve, Redact: opts.Redact}
	if r := opts.Config.Router; r.Admin != "" {
		d.Router = &activities.FerryRouter{Client: &router.Client{BaseURL: r.Admin, Token: r.Token.Reveal()}}
	}
	return d, clients
}

// Start starts polling the task queue, and for each of the worker's Docker engines, once it answers, the
// engine's own task queue (activities.EngineQueue), where the Docker activities of the environments bound to
// that engine go. Until Stop it supervises the liveness of the containers on those engines (see
// docker.Client.Supervise): every worker with an engine does, and a container that another worker restarted is
// not restarted again.
func (w *Worker) Start() error {
	if err := w.Worker.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.stopLive = cancel
	for _, name := range slices.Sorted(maps.Keys(w.engines)) {
		eng := w.engines[name]
		w.supervised.Go(func() { w.queues.discover(ctx, name, eng) })
		w.supervised.Go(func() {
			_ = eng.Supervise(ctx, docker.SuperviseOptions{Logger: w.logger.With("dockerHost", name)})
		})
	}
	return nil
}

// Stop stops polling for tasks, on the main task queue and the engines' ones, and lets running activities finish for up to Options.WorkerStopTimeout (or
// until Interrupt). Then it cancels those still running, which stops their commands (SIGTERM, then SIGKILL
// after the grace period), and returns once every command has exited. An activity that finished is reported to
// the server; one that was cancelled is retried by another worker.
func (w *Worker) Stop() {
	if w.stopLive != nil {
		w.stopLive()
		w.supervised.Wait()
	}
	var engines sync.WaitGroup
	engines.Go(w.queues.stop)
	w.Worker.Stop()
	engines.Wait()
	w.interrupt(ErrInterrupted) // the SDK cancels what still runs, but does not wait for it
	w.commands.wait()
	if w.vault != nil {
		w.vault.Close()
	}
}

// Interrupt cancels every running activity at once, as a second Ctrl-C asks: their commands are stopped
// (SIGTERM, then SIGKILL after the grace period). A Stop in progress returns as soon as they have exited.
// Call it only while stopping: the worker runs no activity to completion afterwards.
func (w *Worker) Interrupt() {
	w.interrupt(ErrInterrupted)
}

// trackedRunner counts the commands that run, so that Stop can wait for them.
type trackedRunner struct {
	runner   activities.CommandRunner
	commands *inflight
}

func (t trackedRunner) Run(ctx context.Context, cmd execrun.Command) (execrun.Result, error) {
	t.commands.add(1)
	defer t.commands.add(-1)
	return t.runner.Run(ctx, cmd)
}

// inflight counts running commands. Unlike a sync.WaitGroup it allows a command to start while someone waits.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle sync.Cond // signalled when n drops to zero
}

func newInflight() *inflight {
	f := &inflight{}
	f.idle.L = &f.mu
	return f
}

func (f *inflight) add(delta int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n += delta
	if f.n == 0 {
		f.idle.Broadcast()
	}
}

// wait returns once no command runs.
func (f *inflight) wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.n > 0 {
		f.idle.Wait()
	}
}

// DialOptions configure Dial.
type DialOptions struct {
	// HostPort is the frontend address, such as "127.0.0.1:7233".
	HostPort string
	// Namespace is the client's namespace. Empty means Temporal's "default".
	Namespace string
	// Logger receives the SDK's logs through its slog adapter. Default slog.Default().
	Logger *slog.Logger
	// TLS, when set, secures the connection: the CAs that verify the server, the server name, and for mutual
	// TLS the client certificate.
	TLS *tls.Config
	// TLSDisabled keeps the connection in plaintext even with an APIKey, which otherwise turns TLS on.
	// It is ignored when TLS is set.
	TLSDisabled bool
	// APIKey, when set, goes with every call as the bearer token of the authorization header.
	APIKey string
	// DataConverter, when set, converts payloads: the default one with a codec (such as the encryption of
	// internal/codec) on both the CLI and the worker. Nil means the SDK's default.
	DataConverter converter.DataConverter
}

// Dial connects to Temporal and checks that the server answers before it returns. ctx bounds the attempt. When
// the server cannot be reached, the error wraps the SDK's (a gRPC Unavailable or the context's error). The caller
// closes the client.
func Dial(ctx context.Context, opts DialOptions) (client.Client, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c, err := client.DialContext(ctx, clientOptions(opts, logger))
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}

// clientOptions are the SDK's options for opts.
func clientOptions(opts DialOptions, logger *slog.Logger) client.Options {
	o := client.Options{
		HostPort:      opts.HostPort,
		Namespace:     opts.Namespace,
		Logger:        sdklog.NewStructuredLogger(logger),
		DataConverter: opts.DataConverter,
		ConnectionOptions: client.ConnectionOptions{
			TLS:         opts.TLS,
			TLSDisabled: opts.TLSDisabled && opts.TLS == nil,
		},
	}
	if opts.APIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(opts.APIKey)
	}
	return o
}
