// Package devserver runs the Temporal server that `ferry dev` embeds: every Temporal service in this process, on
// SQLite (in memory, or in a file that survives restarts), with the Temporal Web UI beside it.
//
// It is a development server. It has one history shard and no authorization, and it binds to loopback by
// default. Its frontend can serve TLS, mutual or not (Options.TLS).
package devserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
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
// Options.TimerMaxTimeShift is zero. With it, and with the timer queue's read rate that Start raises to
// defaultTimerPollRPS, a durable timer of 100 ms or more fires a few milliseconds after it is due, and a shorter
// one after about 100 ms.
//
// Why both settings: the history service moves a new timer to no earlier than now+shift, the end of the window
// its timer queue has already read. With Temporal's default shift of 1 s, every workflow.Sleep or bake shorter
// than a second takes about a second. A smaller shift alone does not help, because the queue may read at most
// history.timerProcessorMaxPollRPS times a second (20 by default): once the rate limiter's burst is spent, timers
// fire on a 100 ms grid, and under load a small window needs more reads than the limit allows, so the server
// falls behind. That explains why a shift of 10 ms alone ran 10 x 100 ms timers in 2.4 s, not 1 s, and fell far
// behind at 500 concurrent workflows.
//
// Measured with BenchmarkTimerShift (-benchtime 2x, one process per row) on 2 cores shared with other builds,
// the worker in the same process. Each cell is the wall time of a run, then the mean / p99 lateness of a timer:
//
//	shift   reads/s  1 wf x 10 x 100 ms  200 wfs x 3 x 1 s       400 wfs x 3 x 1 s         200 wfs x 5 x 100 ms
//	1 s     20       10.0 s, 903 ms      4.7 s, 95 / 362 ms      10.3 s, 423 / 5278 ms     8.5 s, 997 / 2469 ms
//	250 ms  20        2.5 s, 153 ms      5.6 s, 156 / 1959 ms    11.5 s, 391 / 4177 ms     8.8 s, 338 / 2426 ms
//	100 ms  20        1.9 s, 93 ms       7.0 s, 354 / 3627 ms    15.4 s, 708 / 6283 ms    16.6 s, 629 / 9834 ms
//	10 ms   20        2.0 s, 103 ms      6.4 s, 436 / 2288 ms    14.5 s, 742 / 6851 ms    19.5 s, 1345 / 14464 ms
//	250 ms  100       2.5 s, 153 ms      5.0 s, 113 / 456 ms     10.3 s, 224 / 757 ms      7.0 s, 279 / 594 ms
//	100 ms  50        1.1 s, 6 ms        4.8 s, 97 / 386 ms       8.0 s, 300 / 1033 ms     5.8 s, 123 / 1331 ms
//	100 ms  100       1.1 s, 7 ms        4.9 s, 108 / 454 ms      9.2 s, 229 / 1063 ms     4.7 s, 84 / 190 ms
//	100 ms  200       1.1 s, 8 ms        5.4 s, 130 / 633 ms      9.3 s, 208 / 749 ms      9.9 s, 119 / 286 ms
//	50 ms   100       1.1 s, 6 ms        5.5 s, 128 / 541 ms     10.7 s, 169 / 712 ms      5.4 s, 99 / 243 ms
//	10 ms   100       1.1 s, 7 ms        5.8 s, 187 / 818 ms     10.7 s, 283 / 1090 ms     6.6 s, 184 / 2054 ms
//
// An idle server used about 0.3 % of a core with every setting, and the CPU time of a loaded run did not depend
// on the setting beyond the noise (5-6 CPU seconds for 200 x 3 x 1 s, 12-14 for 400 x 3 x 1 s). Under load every
// setting is bound by CPU; the timer settings decide how evenly that delay is shared.
//
// 100 ms at 100 reads/s runs the 10 x 100 ms loop in 1.1 s instead of 10 s. Under load it matches Temporal's
// defaults at 200 workflows (within the noise) and beats them at 400 workflows and in the stress test, where the
// defaults leave a timer up to 5 s late. Going below 100 ms gains nothing for timers of 100 ms or more and does
// worse in the stress test; 50 or 200 reads/s are close to 100 and no better.
const DefaultTimerMaxTimeShift = 100 * time.Millisecond

// defaultTimerPollRPS is the history.timerProcessorMaxPollRPS that Start sets, how often a second the timer
// queue of the single history shard may read SQLite. Temporal's default is 20. See DefaultTimerMaxTimeShift.
const defaultTimerPollRPS = 100

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

	// TLS, when set, turns TLS on for the frontend. Nil means plaintext.
	TLS *TLS
	// CodecEndpoint, when set, is the URL of a codec server (`ferry codec-server`) the Web UI decodes
	// payloads with, from the browser.
	CodecEndpoint string

	// timerPollRPS is history.timerProcessorMaxPollRPS; 0 means defaultTimerPollRPS. Only BenchmarkTimerShift
	// varies it.
	timerPollRPS int
}

// Server is a running dev server. Stop it to release its ports.
type Server struct {
	temporal  temporal.Server
	ui        *uiserver.Server
	frontend  string
	uiURL     string
	namespace string
	tls       *tlsSetup // nil: plaintext

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
	p, err := holdPorts(opts)
	if err != nil {
		return nil, err
	}
	defer p.release()
	s := &Server{
		frontend:  net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(p.frontend)),
		namespace: opts.Namespace,
	}
	if opts.TLS != nil {
		if s.tls, err = newTLSSetup(opts.TLS, dialIP(opts.IP)); err != nil {
			return nil, err
		}
	}
	var ui *uiserver.Server
	if p.ui > 0 {
		ui = newUI(opts, p.ui, s.frontend, s.tls)
		s.uiURL = "http://" + net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(p.ui))
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

	// From here, the servers bind the ports. The UI goes first: it needs no frontend to serve its page, and
	// it would exit the process if it could not bind, so it should bind while holdPorts' check is fresh.
	p.release()
	if ui != nil {
		s.ui = ui
		go func() {
			// Returns when Stop closes it.
			_ = ui.Start()
		}()
		if err := waitHTTP(ctx, s.uiURL+"/healthz"); err != nil {
			return nil, errors.Join(fmt.Errorf("ui: %w", err), s.Stop())
		}
	}
	logger := newServerLogger(opts.Logger, opts.LogLevel, &s.muted)
	srvOpts := serverOptions(opts, p, s.frontend, sqlConf, logger)
	if s.tls != nil {
		srvOpts = append(srvOpts, temporal.WithTLSConfigFactory(tlsProvider{s.tls}))
	}
	srv, err := newTemporal(srvOpts)
	if err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if err := srv.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start temporal server: %w", err), s.Stop())
	}
	s.temporal = srv
	if err := s.registerSearchAttributes(ctx, logger.SLog()); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// FrontendHostPort is the address clients dial, such as "127.0.0.1:7233".
func (s *Server) FrontendHostPort() string { return s.frontend }

// UIURL is the Web UI's base URL, such as "http://127.0.0.1:8233", or "" when the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// ClientTLS is the TLS configuration for a client in this process, or nil when the frontend serves plaintext.
// It trusts exactly the server's certificate and presents a client certificate that the frontend accepts, so
// that it works with mutual TLS too. Each call returns a new copy.
func (s *Server) ClientTLS() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.client.Clone()
}

// MutualTLS reports whether the frontend requires client certificates.
func (s *Server) MutualTLS() bool { return s.tls != nil && s.tls.mutual }

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
		if s.temporal == nil {
			return // Start failed before the server ran
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stop temporal server: %w", err)
		}
	})
	return s.stopErr
}

// withDefaults fills in the defaults and rejects invalid options. A Port or UIPort of 0 stays 0 for holdPorts
// to pick.
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
	if o.timerPollRPS == 0 {
		o.timerPollRPS = defaultTimerPollRPS
	}

	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("port %d is out of range", o.Port)
	}
	switch {
	case o.UIPort < -1 || o.UIPort > 65535:
		return o, fmt.Errorf("ui port %d is out of range", o.UIPort)
	case o.UIPort != 0 || o.Port == 0:
		// Set, disabled, or picked with the frontend's.
	case o.Port == DefaultPort:
		o.UIPort = DefaultUIPort
	case o.Port+1000 > 65535:
		return o, fmt.Errorf("ui port %d (port + 1000) is out of range: set it", o.Port+1000)
	default:
		o.UIPort = o.Port + 1000
	}
	return o, nil
}

// ports are the ports the server listens on. holdPorts binds each of them, so that a port in use fails Start
// with a clear error and no two picked ports are the same; release unbinds them just before the server binds.
type ports struct {
	frontend, http, history, matching, worker int
	ui                                        int // -1: no UI
	held                                      []net.Listener
}

// holdPorts binds opts.Port and opts.UIPort (a free port where 0) on opts.IP, and free loopback ports for the
// internal services. The frontend's HTTP API is not used by Ferry, but without it the server warns on every
// start that Nexus is unavailable.
func holdPorts(opts Options) (*ports, error) {
	p := &ports{ui: -1}
	type want struct {
		name string
		ip   string
		port int
		dst  *int
	}
	wants := []want{
		{"frontend", opts.IP, opts.Port, &p.frontend},
		{"frontend http", opts.IP, 0, &p.http},
		{"history", loopback, 0, &p.history},
		{"matching", loopback, 0, &p.matching},
		{"worker", loopback, 0, &p.worker},
	}
	if opts.UIPort != -1 {
		wants = append(wants, want{"ui", opts.IP, opts.UIPort, &p.ui})
	}
	for _, w := range wants {
		l, err := net.Listen("tcp", net.JoinHostPort(w.ip, strconv.Itoa(w.port)))
		if err != nil {
			p.release()
			return nil, fmt.Errorf("%s port: %w", w.name, err)
		}
		p.held = append(p.held, l)
		*w.dst = l.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}

// release unbinds the ports. Another process may take one before the server binds it; the server then fails to
// start with the bind error. Safe to call more than once.
func (p *ports) release() {
	for _, l := range p.held {
		l.Close()
	}
	p.held = nil
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

func serverOptions(opts Options, p *ports, frontend string, sqlConf *config.SQL, logger serverLogger) []temporal.ServerOption {
	services := map[primitives.ServiceName]int{
		primitives.FrontendService: p.frontend,
		primitives.HistoryService:  p.history,
		primitives.MatchingService: p.matching,
		primitives.WorkerService:   p.worker,
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
			HTTPAddress:            net.JoinHostPort(dialIP(opts.IP), strconv.Itoa(p.http)),
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
			rpc.HTTPPort = p.http
			host = frontend
		}
		conf.Services[string(svc)] = config.Service{RPC: rpc}
		hosts[svc] = static.SingleLocalHost(host)
	}

	dyn := dynamicconfig.StaticClient{
		dynamicconfig.TimerProcessorMaxTimeShift.Key(): opts.TimerMaxTimeShift,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():   opts.timerPollRPS,
	}
	return []temporal.ServerOption{
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	}
}

// newTemporal creates the server. The server reports a port it cannot bind through Logger.Fatal, which
// serverLogger turns into a panic; newTemporal turns that panic into an error.
func newTemporal(opts []temporal.ServerOption) (srv temporal.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("create temporal server: %v", r)
		}
	}()
	srv, err = temporal.NewServer(opts...)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	return srv, nil
}

func newUI(opts Options, port int, frontend string, t *tlsSetup) *uiserver.Server {
	conf := &uiconfig.Config{
		Host:                opts.IP,
		Port:                port,
		TemporalGRPCAddress: frontend,
		EnableUI:            true,
		DefaultNamespace:    opts.Namespace,
		HideLogs:            true,
		// No news from the internet: ferry dev works offline.
		DisableNewsFetch: true,
		// Plain HTTP on loopback: a Secure CSRF cookie would never come back and every write action would fail.
		CORS: uiconfig.CORS{CookieInsecure: true},
	}
	conf.Codec.Endpoint = opts.CodecEndpoint
	if t == nil {
		return uiserver.NewServer(uioptions.WithConfigProvider(conf))
	}
	conf.TLS = t.ui
	// NewServer announces each credential it loads on the standard logger, among `ferry dev`'s own lines on
	// stderr. Start calls newUI before the Temporal server runs, so little else can log there meanwhile.
	out := log.Writer()
	log.SetOutput(io.Discard)
	defer log.SetOutput(out)
	return uiserver.NewServer(uioptions.WithConfigProvider(conf))
}

// registerSearchAttributes adds Ferry's search attributes to the namespace when an existing database lacks them,
// then waits until the services' namespace caches have them.
func (s *Server) registerSearchAttributes(ctx context.Context, logger *slog.Logger) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:          s.frontend,
		Namespace:         s.namespace,
		Logger:            sdklog.NewStructuredLogger(logger),
		ConnectionOptions: client.ConnectionOptions{TLS: s.ClientTLS()},
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
