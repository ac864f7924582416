// Package devserver runs the Temporal server that `ferry dev` embeds: every Temporal service in this process, on
// SQLite (in memory, or in a file that survives restarts), with the Temporal Web UI beside it.
//
// It is a development server. It has one history shard, no TLS, no authorization, and it binds to loopback by
// default.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/ferryhq/ferry/workflows"
)

// DefaultTimerMaxTimeShift is the history.timerProcessorMaxTimeShift that Start uses when
// Options.TimerMaxTimeShift is zero.
//
// The setting bounds how late a durable timer may fire: the history service moves every timer task to at least
// now+shift, so each workflow.Sleep or bake shorter than the shift takes the whole shift. Temporal's default is
// 1 s, which turns a 10 x 100 ms timer loop into about 10 s. A smaller shift makes the timer queue re-read its
// window more often, which costs SQLite reads on the single history shard.
//
// Measured with BenchmarkTimerShift (timershift_test.go) on a 2-core machine, one in-process worker:
//
//	shift   10 sequential 100 ms timers   200 workflows x 5 x 100 ms timers (concurrent)
//	                                      wall     timer lateness p50 / p99 / max
//	1 s     10.3 s (930 ms late/timer)    TODO
//	100 ms  TODO                          TODO
//	10 ms   TODO                          TODO
//
// 100 ms keeps each timer well under a second late while the server keeps up with a few hundred concurrent
// workflows; 10 ms gains little more per timer and loses the margin under load.
const DefaultTimerMaxTimeShift = 100 * time.Millisecond

// Defaults of Options.
const (
	DefaultIP        = "127.0.0.1"
	DefaultPort      = 7233
	DefaultUIPort    = 8233
	DefaultNamespace = "default"
)

// namespaceRetention keeps closed workflows of a namespace that Start creates for 30 days, so that the 720h
// window of `ferry stats` sees the releases of a persistent dev server. Temporal's own dev server keeps one day.
const namespaceRetention = 30 * 24 * time.Hour

// namespaceCacheWait is how long Start waits after adding search attributes to an existing namespace: every
// service caches namespaces and refreshes them every 2 s (system.namespaceCacheRefreshInterval), and until then
// the frontend rejects the new attributes.
const namespaceCacheWait = 5 * time.Second

// Options configure Start. The zero value is an in-memory server on free ports of 127.0.0.1.
type Options struct {
	// IP is the address the frontend and the UI listen on. Default DefaultIP. The other Temporal services
	// always listen on 127.0.0.1.
	IP string
	// Port is the frontend gRPC port; 0 picks a free port. `ferry dev` defaults it to DefaultPort.
	Port int
	// UIPort is the Web UI port. Default DefaultUIPort when Port is DefaultPort, a free port when Port is 0, and
	// Port+1000 otherwise. -1 disables the UI.
	UIPort int
	// DBFile is the SQLite file that keeps the server's state across restarts. It is created with the schema
	// when it does not exist or is empty; an existing one is used as it is. Empty means in memory.
	DBFile string
	// Namespace is registered at start, with the search attributes in workflows.SearchAttributes.
	// Default DefaultNamespace.
	Namespace string
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// LogLevel drops server logs below it. Default slog.LevelWarn: the server logs at Info on every request.
	LogLevel slog.Leveler
	// TimerMaxTimeShift is history.timerProcessorMaxTimeShift, how late a durable timer may fire.
	// 0 means DefaultTimerMaxTimeShift.
	TimerMaxTimeShift time.Duration

	timerPollRPS int // TEMPORARY experiment
}

// Server is a running dev server. Stop it to release its ports.
type Server struct {
	temporal  temporal.Server
	ui        *uiserver.Server
	frontend  string
	uiURL     string
	namespace string

	// muted silences the server's logs from Stop on: shutting down, its services log every call that the
	// shutdown cancels, and some of its goroutines keep retrying connections after Stop returns.
	muted    atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once the frontend accepts calls, the namespace and Ferry's search
// attributes exist, and the UI (unless disabled) answers. ctx bounds the start only; Stop ends the server.
//
// With the same DBFile, a restarted server sees every workflow of the previous one. Start is idempotent on the
// file: the schema, namespace and search attributes are only created when missing.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var ui *uiserver.Server
	s := &Server{
		frontend:  net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(opts.Port)),
		namespace: opts.Namespace,
	}
	if opts.UIPort > 0 {
		// The UI server exits the process when it cannot bind, so find out here.
		if err := checkFree(opts.IP, opts.UIPort); err != nil {
			return nil, fmt.Errorf("ui port: %w", err)
		}
		ui = newUI(opts, s.frontend)
		s.uiURL = "http://" + net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(opts.UIPort))
	}

	sqlConf, err := sqlConfig(opts.DBFile)
	if err != nil {
		return nil, err
	}
	ns, err := namespaceConfig(opts.Namespace)
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", opts.Namespace, err)
	}

	logger := newServerLogger(opts.Logger, opts.LogLevel, &s.muted)
	srvOpts, err := serverOptions(opts, s.frontend, sqlConf, logger)
	if err != nil {
		return nil, err
	}
	srv, err := temporal.NewServer(srvOpts...)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s.temporal = srv

	if err := s.registerSearchAttributes(ctx, logger.SLog()); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if ui != nil {
		go func() {
			// Start returns when Stop closes it; a bind error exits the process (checkFree guards against it).
			_ = ui.Start()
		}()
		s.ui = ui
		if err := waitHTTP(ctx, s.uiURL+"/healthz"); err != nil {
			return nil, errors.Join(fmt.Errorf("ui: %w", err), s.Stop())
		}
	}
	return s, nil
}

// FrontendHostPort is the address clients dial, such as "127.0.0.1:7233".
func (s *Server) FrontendHostPort() string { return s.frontend }

// UIURL is the Web UI's base URL, such as "http://127.0.0.1:8233", or "" when the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace Start registered.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the server and releases their ports. Stop is safe to call more than once; later calls
// return the first call's error.
//
// The server's SQLite plugin pools one connection per database for the life of the process and never closes it:
// after Stop, a DBFile stays open (a later Start on it in this process reuses the connection) and an in-memory
// database keeps its memory. Neither is reachable through a stopped server.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.muted.Store(true)
		if s.ui != nil {
			s.ui.Stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stop temporal server: %w", err)
		}
	})
	return s.stopErr
}

func (o Options) withDefaults() (Options, error) {
	if o.IP == "" {
		o.IP = DefaultIP
	}
	if net.ParseIP(o.IP) == nil {
		return o, fmt.Errorf("ip %q is not an IP address", o.IP)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	if o.TimerMaxTimeShift == 0 {
		o.TimerMaxTimeShift = DefaultTimerMaxTimeShift
	}
	if o.TimerMaxTimeShift < 0 {
		return o, fmt.Errorf("timer max time shift %v is negative", o.TimerMaxTimeShift)
	}

	freePort := o.Port == 0
	var err error
	switch {
	case o.Port == 0:
		if o.Port, err = pickPort(o.IP); err != nil {
			return o, fmt.Errorf("frontend port: %w", err)
		}
	case o.Port < 0 || o.Port > 65535:
		return o, fmt.Errorf("port %d is out of range", o.Port)
	}
	switch {
	case o.UIPort == -1:
	case o.UIPort == 0 && freePort:
		if o.UIPort, err = pickPort(o.IP); err != nil {
			return o, fmt.Errorf("ui port: %w", err)
		}
	case o.UIPort == 0 && o.Port == DefaultPort:
		o.UIPort = DefaultUIPort
	case o.UIPort == 0:
		o.UIPort = o.Port + 1000
	}
	if o.UIPort < -1 || o.UIPort > 65535 {
		return o, fmt.Errorf("ui port %d is out of range", o.UIPort)
	}
	return o, nil
}

// sqlConfig is the SQLite store: a fresh in-memory database, or the file with the schema created on first use.
func sqlConfig(file string) (*config.SQL, error) {
	if file == "" {
		return &config.SQL{
			PluginName: sqliteplugin.PluginName,
			// Shared cache lets the server's connections see one database; the random name keeps two servers in
			// one process (tests) apart.
			DatabaseName:      "ferry-dev-" + strconv.FormatUint(rand.Uint64(), 36),
			ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"},
		}, nil
	}
	if _, err := os.Stat(filepath.Dir(file)); err != nil {
		return nil, fmt.Errorf("db file directory: %w", err)
	}
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: file,
		// setup makes the plugin create the schema and treat "table already exists" as done, so a new file, an
		// empty one and one from an earlier run all work.
		ConnectAttributes: map[string]string{"mode": "rwc", "setup": "true"},
	}, nil
}

// namespaceConfig describes the namespace Start creates when it is missing, with Ferry's search attributes
// already mapped so that a fresh server needs no cache refresh before releases can use them.
func namespaceConfig(name string) (*sqliteschema.NamespaceConfig, error) {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, searchAttributes())
	if err != nil {
		return nil, fmt.Errorf("namespace %q: %w", name, err)
	}
	ns.Detail.Config.Retention = timestamp.DurationPtr(namespaceRetention)
	return ns, nil
}

func searchAttributes() map[string]enumspb.IndexedValueType {
	sas := make(map[string]enumspb.IndexedValueType, len(workflows.SearchAttributes))
	for _, name := range workflows.SearchAttributes {
		sas[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return sas
}

const clusterName = "active"

func serverOptions(opts Options, frontend string, sqlConf *config.SQL, logger serverLogger) ([]temporal.ServerOption, error) {
	services := map[primitives.ServiceName]int{primitives.FrontendService: opts.Port}
	for _, svc := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		port, err := pickPort(loopback)
		if err != nil {
			return nil, fmt.Errorf("%s port: %w", svc, err)
		}
		services[svc] = port
	}
	// The frontend's HTTP API is not used by Ferry, but without it the server warns on every start that Nexus is
	// unavailable.
	httpPort, err := pickPort(opts.IP)
	if err != nil {
		return nil, fmt.Errorf("frontend http port: %w", err)
	}

	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = loopback
	conf.Persistence = config.Persistence{
		DefaultStore:     "sqlite",
		VisibilityStore:  "sqlite",
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{"sqlite": {SQL: sqlConf}},
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontend,
			HTTPAddress:            net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(httpPort)),
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend
	conf.Services = make(map[string]config.Service, len(services))
	hosts := make(map[primitives.ServiceName]static.Hosts, len(services))
	for svc, port := range services {
		rpc := config.RPC{GRPCPort: port, BindOnIP: loopback}
		host := net.JoinHostPort(loopback, strconv.Itoa(port))
		if svc == primitives.FrontendService {
			rpc.BindOnIP = opts.IP
			rpc.HTTPPort = httpPort
			host = frontend
		}
		conf.Services[string(svc)] = config.Service{RPC: rpc}
		hosts[svc] = static.SingleLocalHost(host)
	}

	dyn := dynamicconfig.StaticClient{
		dynamicconfig.TimerProcessorMaxTimeShift.Key(): opts.TimerMaxTimeShift,
	}
	if opts.timerPollRPS > 0 {
		dyn[dynamicconfig.TimerProcessorMaxPollRPS.Key()] = opts.timerPollRPS
	}
	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	}, nil
}

func newUI(opts Options, frontend string) *uiserver.Server {
	return uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                opts.IP,
		Port:                opts.UIPort,
		TemporalGRPCAddress: frontend,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		HideLogs:            true,
		// No news from the internet: ferry dev works offline.
		DisableNewsFetch: true,
		// Plain HTTP on loopback: a Secure CSRF cookie would never come back and every write action would fail.
		CORS: uiconfig.CORS{CookieInsecure: true},
	}))
}

// registerSearchAttributes adds Ferry's search attributes to the namespace when an existing database lacks them,
// then waits until the services' namespace caches have them.
func (s *Server) registerSearchAttributes(ctx context.Context, logger *slog.Logger) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.frontend,
		Namespace: s.namespace,
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return fmt.Errorf("dial frontend: %w", err)
	}
	defer c.Close()
	added, err := ensureSearchAttributes(ctx, c.OperatorService(), s.namespace)
	if err != nil || !added {
		return err
	}
	select {
	case <-time.After(namespaceCacheWait):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for search attributes: %w", ctx.Err())
	}
}

// ensureSearchAttributes adds the attributes of workflows.SearchAttributes that the namespace lacks, and reports
// whether it added any. It is idempotent, and fails when an attribute exists with a type other than Keyword.
func ensureSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string) (bool, error) {
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return false, fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range searchAttributes() {
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return false, fmt.Errorf("search attribute %s is %s, want %s", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return false, fmt.Errorf("add search attributes: %w", err)
	}
	return true, nil
}

const loopback = "127.0.0.1"

// dialIP is the address a client on this machine dials to reach a listener on ip.
func dialIP(ip string) string {
	if net.ParseIP(ip).IsUnspecified() {
		return loopback
	}
	return ip
}

// pickPort returns a port that is free on ip now. Another process may take it before the server binds it; the
// server then fails to start with the bind error.
func pickPort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func checkFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

// waitHTTP polls url until it answers 200.
func waitHTTP(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer: %w", url, ctx.Err())
		case <-tick.C:
		}
	}
}
