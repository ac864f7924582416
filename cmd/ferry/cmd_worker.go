package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/worker"
)

// WorkerOptions are the flags of `ferry worker`.
type WorkerOptions struct {
	// StopTimeout is how long a stopping worker lets running platform commands finish.
	StopTimeout time.Duration
	Exec        ExecOptions
	// Config is the worker configuration file. Empty means ./ferry-worker.yaml when it exists.
	Config string
	Router RouterAccess
	Vault  VaultAccess
	// Install names the install on its Docker engines; empty means the task queue.
	Install string
}

// VaultAccess holds the flags that say where Vault is and how the worker logs in, shared by `ferry worker` and
// `ferry dev`. Each one set overrides the vault section of the worker configuration; a token set here wins over
// AppRole.
type VaultAccess struct {
	Addr     string
	Token    string
	RoleID   string
	SecretID string
}

// vaultFlags are the flags of VaultAccess.
func vaultFlags(o *VaultAccess) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "vault-addr", Usage: "`URL` of Vault, where the specs' secret references resolve (overrides vault.address of --config)",
			EnvVars: []string{"FERRY_VAULT_ADDR"}, Destination: &o.Addr},
		&cli.StringFlag{Name: "vault-token", Usage: "Vault `TOKEN` of the worker, renewed while it runs (overrides vault.token of --config); prefer the env var",
			EnvVars: []string{"FERRY_VAULT_TOKEN"}, Destination: &o.Token},
		&cli.StringFlag{Name: "vault-role-id", Usage: "AppRole role `ID` to log in to Vault with (overrides vault.approle.roleId of --config)",
			EnvVars: []string{"FERRY_VAULT_ROLE_ID"}, Destination: &o.RoleID},
		&cli.StringFlag{Name: "vault-secret-id", Usage: "AppRole secret `ID` to log in to Vault with (overrides vault.approle.secretId of --config); prefer the env var",
			EnvVars: []string{"FERRY_VAULT_SECRET_ID"}, Destination: &o.SecretID},
	}
}

// vaultAuth resolves the vault section of cfg with the flags over it.
func (o VaultAccess) vaultAuth(cmd string, cfg worker.VaultConfig) (worker.VaultAuth, error) {
	if o.Token != "" {
		cfg.Token = ""
	}
	if o.RoleID != "" || o.SecretID != "" {
		cfg.AppRole.RoleID, cfg.AppRole.SecretID = "", ""
	}
	a, err := cfg.Resolve(os.LookupEnv, os.ReadFile)
	if err != nil {
		return worker.VaultAuth{}, usagef(cmd, "worker configuration: %v", err)
	}
	if o.Addr != "" {
		a.Address = o.Addr
	}
	if o.Token != "" {
		a.Token = worker.Secret(o.Token)
	}
	if o.RoleID != "" || o.SecretID != "" {
		a.RoleID, a.SecretID = worker.Secret(o.RoleID), worker.Secret(o.SecretID)
	}
	if err := a.Check(); err != nil {
		return worker.VaultAuth{}, usagef(cmd, "%v (--vault-token, or --vault-role-id and --vault-secret-id)", err)
	}
	return a, nil
}

// RouterAccess holds the flags that name the traffic router's admin API and the Prometheus that analysis
// queries, shared by `ferry worker` and `ferry dev`. Each one set overrides the router or prometheus section
// of the worker configuration.
type RouterAccess struct {
	Admin string
	Token string
	// PrometheusAddress and PrometheusToken override prometheus.address and prometheus.token.
	PrometheusAddress string
	PrometheusToken   string
}

// routerAccessFlags are the flags of RouterAccess.
func routerAccessFlags(o *RouterAccess) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "router-admin", Usage: "`URL` of the traffic router's admin API, for the Docker platform (overrides router.admin of --config)",
			EnvVars: []string{"FERRY_ROUTER_ADMIN"}, Destination: &o.Admin},
		&cli.StringFlag{Name: "router-token", Usage: "bearer `TOKEN` of the router's admin API (overrides router.token of --config)",
			EnvVars: []string{"FERRY_ROUTER_TOKEN"}, Destination: &o.Token},
		&cli.StringFlag{Name: "prometheus-address", Usage: "`URL` of the Prometheus that analysis and verify query for metrics (overrides prometheus.address of --config)",
			EnvVars: []string{"FERRY_PROMETHEUS_ADDRESS"}, Destination: &o.PrometheusAddress},
		&cli.StringFlag{Name: "prometheus-token", Usage: "bearer `TOKEN` for Prometheus (overrides prometheus.token of --config)",
			EnvVars: []string{"FERRY_PROMETHEUS_TOKEN"}, Destination: &o.PrometheusToken},
	}
}

// ExecOptions are the flags that say what a worker's commands may do, shared by `ferry worker` and `ferry dev`.
type ExecOptions struct {
	// Root is the directory platform.exec.dir resolves against. Default: the working directory.
	Root string
	// Allow holds the glob patterns of the programs commands may run.
	Allow cli.StringSlice
	// Env names the worker's environment variables that commands get besides PATH and HOME.
	Env cli.StringSlice
}

// execFlags are the flags of ExecOptions. allowDefault describes Allow's default in the help.
func execFlags(o *ExecOptions, allowDefault string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "exec-root", Usage: "`DIR` that platform.exec.dir resolves against: this machine's copy of the spec's directory",
			EnvVars: []string{"FERRY_EXEC_ROOT"}, DefaultText: "the working directory", Destination: &o.Root},
		&cli.StringSliceFlag{Name: "exec-allow", Usage: "glob `PATTERN` of programs commands may run, repeatable: /srv/ferry/** (a path), kubectl (a name looked up in PATH)",
			EnvVars: []string{"FERRY_EXEC_ALLOW"}, DefaultText: allowDefault, Destination: &o.Allow},
		&cli.StringSliceFlag{Name: "exec-env", Usage: "`NAME` of an environment variable that commands get, repeatable (they always get PATH, HOME and FERRY_*)",
			EnvVars: []string{"FERRY_EXEC_ENV"}, Destination: &o.Env},
	}
}

// configFlag is the --config flag of the commands that run a worker.
func configFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "config", Usage: "worker configuration `FILE`: exec policy, Docker hosts, registries, router, Prometheus, Vault; flags and their env vars override its exec section",
		EnvVars: []string{"FERRY_WORKER_CONFIG"}, DefaultText: "./" + worker.DefaultConfigFile + " if present", Destination: dest}
}

// installFlag is the --install flag of the commands that run a worker.
func installFlag(dest *string) cli.Flag {
	return &cli.StringFlag{Name: "install", Usage: "`NAME` of this Ferry install on its Docker engines: its containers carry it (label ferry.install), and it touches no container of another install",
		EnvVars: []string{"FERRY_INSTALL"}, DefaultText: "the task queue", Destination: dest}
}

// configPath is the worker configuration file to read: path when set, or else ./ferry-worker.yaml when it
// exists, or else none ("").
func configPath(path string) string {
	if path != "" {
		return path
	}
	if _, err := os.Stat(worker.DefaultConfigFile); err != nil {
		return ""
	}
	return worker.DefaultConfigFile
}

// workerConfig reads the worker configuration file at path; "" means none (the zero Config).
func workerConfig(cmd, path string) (worker.Config, error) {
	if path == "" {
		return worker.Config{}, nil
	}
	cfg, err := worker.LoadConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return worker.Config{}, usagef(cmd, "--config %s: no such file", path)
	}
	return cfg, err
}

// withConfig takes from the file's exec section each setting that neither a flag nor its environment variable
// set: flag, then env, then file.
func (o ExecOptions) withConfig(c worker.ExecConfig) ExecOptions {
	if o.Root == "" {
		o.Root = c.Root
	}
	if len(o.Allow.Value()) == 0 && len(c.Allow) > 0 {
		o.Allow = *cli.NewStringSlice(c.Allow...)
	}
	if len(o.Env.Value()) == 0 && len(c.Env) > 0 {
		o.Env = *cli.NewStringSlice(c.Env...)
	}
	return o
}

// workerSetup reads the worker configuration at path ("" for none) and builds the exec policy from the flags over it.
// The router and Prometheus flags override the file's router and prometheus sections.
func workerSetup(cmd, path string, o ExecOptions, r RouterAccess, allowRoot bool) (activities.ExecPolicy, worker.Config, error) {
	cfg, err := workerConfig(cmd, path)
	if err != nil {
		return activities.ExecPolicy{}, worker.Config{}, err
	}
	if r.Admin != "" {
		cfg.Router.Admin = r.Admin
	}
	if r.Token != "" {
		cfg.Router.Token = worker.Secret(r.Token)
	}
	if r.PrometheusAddress != "" {
		cfg.Prometheus.Address = r.PrometheusAddress
	}
	if r.PrometheusToken != "" {
		cfg.Prometheus.Token = worker.Secret(r.PrometheusToken)
	}
	policy, err := o.withConfig(cfg.Exec).policy(cmd, allowRoot)
	return policy, cfg, err
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// policy builds the worker's ExecPolicy from the flags and this process's environment. With no --exec-allow,
// allowRoot allows every program under the exec root (ferry dev) and otherwise none is allowed (ferry worker).
func (o ExecOptions) policy(cmd string, allowRoot bool) (activities.ExecPolicy, error) {
	root := o.Root
	if root == "" {
		root = "."
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return activities.ExecPolicy{}, fmt.Errorf("resolve --exec-root: %w", err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return activities.ExecPolicy{}, usagef(cmd, "--exec-root %s is not a directory", root)
	}
	p := activities.ExecPolicy{Root: root, Allow: o.Allow.Value()}
	if len(p.Allow) == 0 && allowRoot {
		p.Allow = []string{filepath.Join(root, "**")}
	}
	for _, pat := range p.Allow {
		if _, err := path.Match(pat, ""); err != nil || strings.TrimSpace(pat) == "" {
			return activities.ExecPolicy{}, usagef(cmd, "--exec-allow %q is not a glob pattern", pat)
		}
		if strings.ContainsRune(pat, '/') && !filepath.IsAbs(pat) {
			return activities.ExecPolicy{}, usagef(cmd, "--exec-allow %q is neither an absolute path pattern nor a program name", pat)
		}
	}
	names := append([]string{"PATH", "HOME"}, o.Env.Value()...)
	seen := map[string]bool{}
	for _, name := range names {
		if !envNameRE.MatchString(name) {
			return activities.ExecPolicy{}, usagef(cmd, "--exec-env %q is not an environment variable name", name)
		}
		if value, ok := os.LookupEnv(name); ok && !seen[name] {
			seen[name] = true
			p.Env = append(p.Env, name+"="+value)
		}
	}
	return p, nil
}

func newWorkerCommand(g *GlobalOptions) *cli.Command {
	var opts WorkerOptions
	return &cli.Command{
		Name:  "worker",
		Usage: "run Ferry's workflows and activities until Ctrl-C",
		Description: "Polls --task-queue on --address. Run as many as you like; Temporal spreads the work. For each\n" +
			"Docker engine it reaches it also polls QUEUE/docker/ENGINE-ID, where the Docker work of the environments\n" +
			"that run on that engine goes, so that one environment is never split between engines.\n\n" +
			"Ctrl-C (or SIGTERM) stops taking work and lets running platform commands finish for up to\n" +
			"--stop-timeout; a second one, or the end of the timeout, stops them (SIGTERM, then SIGKILL).\n\n" +
			"The worker runs only programs that an --exec-allow pattern matches, in platform.exec.dir resolved\n" +
			"against --exec-root, with PATH, HOME, the FERRY_* variables and the --exec-env variables as their\n" +
			"whole environment. It checks every release's spec before the release runs anything.\n\n" +
			"--config names the worker configuration file (default ./ferry-worker.yaml, if present): the exec\n" +
			"settings, Docker hosts, registries, the router's admin API and Vault. Flags and env vars override it.\n" +
			"Without a docker.hosts entry named local, local is DOCKER_HOST (a tcp:// one secured with the files in\n" +
			"DOCKER_CERT_PATH, or ~/.docker with DOCKER_TLS_VERIFY), or else the default socket.\n\n" +
			"With --vault-addr (or vault.address) the worker resolves the specs' secret references in Vault, inside\n" +
			"the activities that start a version, and hands the values to the platform as environment variables.",
		Flags: append([]cli.Flag{
			&cli.DurationFlag{Name: "stop-timeout", Usage: "how long a stopping worker lets running commands finish",
				EnvVars: []string{"FERRY_WORKER_STOP_TIMEOUT"}, Value: worker.DefaultWorkerStopTimeout, Destination: &opts.StopTimeout},
			configFlag(&opts.Config),
			installFlag(&opts.Install),
		}, append(append(execFlags(&opts.Exec, "none: nothing runs"), routerAccessFlags(&opts.Router)...), vaultFlags(&opts.Vault)...)...),
		Action: action(func(c *cli.Context) error { return runWorker(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

func runWorker(ctx context.Context, opts WorkerOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("worker", args); err != nil {
		return err
	}
	policy, cfg, err := workerSetup("worker", configPath(opts.Config), opts.Exec, opts.Router, false)
	if err != nil {
		return err
	}
	vault, err := opts.Vault.vaultAuth("worker", cfg.Vault)
	if err != nil {
		return err
	}
	if err := g.withWorkerCodec("worker", cfg.Codec); err != nil {
		return err
	}
	if len(policy.Allow) == 0 {
		g.logger.Warn("no --exec-allow (nor exec.allow in the worker configuration): the worker refuses every release that runs a command", "execRoot", policy.Root)
	}
	return g.withClient(ctx, func(c client.Client) error {
		w := worker.New(c, worker.Options{TaskQueue: g.TaskQueue, Logger: g.logger, WorkerStopTimeout: opts.StopTimeout, Exec: policy, Config: cfg,
			LookupEnv: os.LookupEnv, DockerHost: os.Getenv("DOCKER_HOST"),
			DockerCertPath: dockerCertPath(), Vault: vault, Install: opts.Install})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		err := g.printer().emit(devDoc{Address: g.Address, Namespace: g.Namespace, TaskQueue: g.TaskQueue}, func(w io.Writer) {
			fmt.Fprintf(w, "Worker polling task queue %s on %s (namespace %s). Stop with Ctrl-C.\n", g.TaskQueue, g.Address, g.Namespace)
		})
		if err == nil {
			<-ctx.Done()
		}
		stopWorker(w, g.logger)
		return err
	})
}

// dockerCertPath is where the Docker CLI's environment puts the TLS files of a tcp:// DOCKER_HOST:
// DOCKER_CERT_PATH, or ~/.docker when DOCKER_TLS_VERIFY is set without it; empty when neither is set. The
// worker always verifies the engine's certificate with them.
func dockerCertPath() string {
	if dir := os.Getenv("DOCKER_CERT_PATH"); dir != "" {
		return dir
	}
	if os.Getenv("DOCKER_TLS_VERIFY") == "" {
		return ""
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// stopWorker stops w once ctx (cancelled by the first SIGINT or SIGTERM) is done: running platform commands may
// finish within the worker's stop timeout. Another SIGINT or SIGTERM meanwhile stops them at once.
func stopWorker(w *worker.Worker, logger *slog.Logger) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	stopped := make(chan struct{})
	go func() {
		w.Stop()
		close(stopped)
	}()
	logger.Info("worker stopping: running commands may finish; interrupt again to stop them now")
	select {
	case <-stopped:
		return
	case <-again:
		logger.Warn("worker interrupted: stopping running commands")
		w.Interrupt()
	}
	<-stopped
}
