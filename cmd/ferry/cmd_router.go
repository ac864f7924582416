package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ferryhq/ferry/internal/router"
)

// RouterOptions are the flags of `ferry router`.
type RouterOptions struct {
	Listen        string
	Admin         string
	State         string
	AdminToken    string
	InsecureAdmin bool
	// HealthInterval is how often backends with a health path are checked.
	HealthInterval time.Duration
	// DrainTimeout bounds how long a stopping router lets in-flight requests finish.
	DrainTimeout time.Duration
	// TrustedProxies are CIDRs or addresses whose X-Forwarded-* headers are kept.
	TrustedProxies cli.StringSlice
	// Timeouts of the client side and of the backends, and the request body bound.
	ReadHeaderTimeout, IdleTimeout, WriteTimeout time.Duration
	DialTimeout, ResponseHeaderTimeout           time.Duration
	MaxBody                                      int64
}

func newRouterCommand(g *GlobalOptions) *cli.Command {
	var opts RouterOptions
	return &cli.Command{
		Name:  "router",
		Usage: "run the traffic router: weighted routing per service and track, with an admin API, until Ctrl-C",
		Description: "Requests on --listen select a route by their Host header and go to a track (stable or canary,\n" +
			"blue or green) by weight, or by the hash of a sticky header or cookie. The admin API on --admin sets\n" +
			"a route's whole routing at once (PUT /v1/routes/SERVICE/ENV), reads it back, pauses and resumes it;\n" +
			"it takes the bearer token --admin-token. /metrics and /healthz on --admin need no token.\n\n" +
			"Without --admin-token the router refuses to start, unless --insecure-admin is given and --admin\n" +
			"is a loopback address. With --state, routes and pauses survive a restart.\n\n" +
			"Ctrl-C (or SIGTERM) stops the admin API, then lets in-flight requests finish for up to --drain-timeout.\n\n" +
			"Behind a load balancer or TLS terminator, name it with --trusted-proxy: from those peers the router keeps\n" +
			"X-Forwarded-For (appending the peer), -Proto and -Host; from any other peer it replaces them.\n\n" +
			"WebSocket and event-stream responses are exempt from --write-timeout, do not count as in flight, and\n" +
			"end when the router stops.\n\n" +
			"Unless GOGC is set, the router runs with GOGC=400: its live heap is small and every request allocates.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "`HOST:PORT` of the traffic listener", EnvVars: []string{"FERRY_ROUTER_LISTEN"}, Value: "127.0.0.1:8080", Destination: &opts.Listen},
			&cli.StringFlag{Name: "admin", Usage: "`HOST:PORT` of the admin API and /metrics", EnvVars: []string{"FERRY_ROUTER_ADMIN_LISTEN"}, Value: "127.0.0.1:8081", Destination: &opts.Admin},
			&cli.StringFlag{Name: "state", Usage: "`FILE` that keeps routes and pauses across restarts (default: in memory only)", EnvVars: []string{"FERRY_ROUTER_STATE"}, Destination: &opts.State},
			&cli.StringFlag{Name: "admin-token", Usage: "bearer `TOKEN` the admin API requires", EnvVars: []string{"FERRY_ROUTER_TOKEN"}, Destination: &opts.AdminToken},
			&cli.BoolFlag{Name: "insecure-admin", Usage: "serve the admin API without a token (loopback --admin only)", EnvVars: []string{"FERRY_ROUTER_INSECURE_ADMIN"}, Destination: &opts.InsecureAdmin},
			&cli.DurationFlag{Name: "health-interval", Usage: "how often backends with a health path are checked", EnvVars: []string{"FERRY_ROUTER_HEALTH_INTERVAL"}, Value: router.DefaultHealthInterval, Destination: &opts.HealthInterval},
			&cli.DurationFlag{Name: "drain-timeout", Usage: "how long a stopping router lets in-flight requests finish", EnvVars: []string{"FERRY_ROUTER_DRAIN_TIMEOUT"}, Value: router.DefaultDrainTimeout, Destination: &opts.DrainTimeout},
			&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "`CIDR` or address of a load balancer whose X-Forwarded-* headers are kept (repeatable)", EnvVars: []string{"FERRY_ROUTER_TRUSTED_PROXIES"}, Destination: &opts.TrustedProxies},
			&cli.DurationFlag{Name: "read-header-timeout", Usage: "how long a client may take to send a request's headers", EnvVars: []string{"FERRY_ROUTER_READ_HEADER_TIMEOUT"}, Value: router.DefaultReadHeaderTimeout, Destination: &opts.ReadHeaderTimeout},
			&cli.DurationFlag{Name: "idle-timeout", Usage: "how long a client's kept-alive connection may wait for its next request", EnvVars: []string{"FERRY_ROUTER_IDLE_TIMEOUT"}, Value: router.DefaultIdleTimeout, Destination: &opts.IdleTimeout},
			&cli.DurationFlag{Name: "write-timeout", Usage: "bound of a whole response (not WebSocket or event streams); negative for none", EnvVars: []string{"FERRY_ROUTER_WRITE_TIMEOUT"}, Value: router.DefaultWriteTimeout, Destination: &opts.WriteTimeout},
			&cli.DurationFlag{Name: "dial-timeout", Usage: "bound of a connection to a backend", EnvVars: []string{"FERRY_ROUTER_DIAL_TIMEOUT"}, Value: router.DefaultDialTimeout, Destination: &opts.DialTimeout},
			&cli.DurationFlag{Name: "response-header-timeout", Usage: "how long a backend may take to answer a request's headers (then 504)", EnvVars: []string{"FERRY_ROUTER_RESPONSE_HEADER_TIMEOUT"}, Value: router.DefaultResponseHeaderTimeout, Destination: &opts.ResponseHeaderTimeout},
			&cli.Int64Flag{Name: "max-body", Usage: "largest request body in `BYTES` (then 413); 0 for no bound", EnvVars: []string{"FERRY_ROUTER_MAX_BODY"}, Value: DefaultRouterMaxBody, Destination: &opts.MaxBody},
		},
		Action: action(func(c *cli.Context) error { return runRouter(c.Context, opts, *g, c.Args().Slice()) }),
	}
}

// DefaultRouterMaxBody is --max-body's default: 100 MiB, so that uploads work and a runaway body does not.
const DefaultRouterMaxBody = 100 << 20

// routerDoc is the JSON document `ferry router` prints once it listens.
type routerDoc struct {
	Traffic string `json:"traffic"`
	Admin   string `json:"admin"`
	Metrics string `json:"metrics"`
	State   string `json:"state,omitempty"`
	Routes  int    `json:"routes"`
}

func runRouter(ctx context.Context, opts RouterOptions, g GlobalOptions, args []string) error {
	if err := requireArgs("router", args); err != nil {
		return err
	}
	switch {
	case opts.AdminToken == "" && !opts.InsecureAdmin:
		return usagef("router", "the admin API needs a token: pass --admin-token or set FERRY_ROUTER_TOKEN (or --insecure-admin with a loopback --admin)")
	case opts.AdminToken == "" && !isLoopback(opts.Admin):
		return usagef("router", "--insecure-admin needs a loopback --admin address, not %q", opts.Admin)
	case opts.AdminToken != "" && opts.InsecureAdmin:
		return usagef("router", "pass --admin-token or --insecure-admin, not both")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(router.GCPercent)
	}
	trusted, err := router.ParseTrustedProxies(opts.TrustedProxies.Value())
	if err != nil {
		return usagef("router", "--trusted-proxy: %v", err)
	}
	r, err := router.New(router.Options{StatePath: opts.State, HealthInterval: opts.HealthInterval, Logger: g.logger,
		TrustedProxies: trusted, DialTimeout: opts.DialTimeout, ResponseHeaderTimeout: opts.ResponseHeaderTimeout, MaxBodyBytes: opts.MaxBody})
	if err != nil {
		return err
	}
	traffic, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return usagef("router", "--listen %s: %v", opts.Listen, err)
	}
	admin, err := net.Listen("tcp", opts.Admin)
	if err != nil {
		traffic.Close()
		return usagef("router", "--admin %s: %v", opts.Admin, err)
	}
	doc := routerDoc{
		Traffic: "http://" + traffic.Addr().String(),
		Admin:   "http://" + admin.Addr().String(),
		Metrics: "http://" + admin.Addr().String() + "/metrics",
		State:   opts.State,
		Routes:  len(r.Statuses()),
	}
	err = g.printer().emit(doc, func(w io.Writer) {
		fmt.Fprintf(w, "Traffic   %s\n", doc.Traffic)
		fmt.Fprintf(w, "Admin API %s/v1/routes\n", doc.Admin)
		fmt.Fprintf(w, "Metrics   %s\n", doc.Metrics)
		if doc.State != "" {
			fmt.Fprintf(w, "State     %s (%d routes)\n", doc.State, doc.Routes)
		}
		fmt.Fprintln(w, "Ready. Stop with Ctrl-C.")
	})
	if err != nil {
		traffic.Close()
		admin.Close()
		return err
	}
	return r.Serve(ctx, traffic, admin, router.ServeOptions{AdminToken: opts.AdminToken, DrainTimeout: opts.DrainTimeout,
		ReadHeaderTimeout: opts.ReadHeaderTimeout, IdleTimeout: opts.IdleTimeout, WriteTimeout: opts.WriteTimeout})
}

// isLoopback reports whether a listen address binds to loopback only: "localhost" or a loopback IP. An
// empty host binds every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
