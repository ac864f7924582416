// Command demoapp is a small web service for trying Ferry's releases. It builds as a static binary
// (CGO_ENABLED=0 go build ./testdata/demoapp) for an image FROM scratch.
//
// Configuration, flags first, then environment variables:
//
//	-version, VERSION           the version it shows (required; FERRY_VERSION if VERSION is unset)
//	-listen, LISTEN             listen address; else PORT as ":PORT"; else ":8080"
//	-error-rate, DEMO_ERROR_RATE share of page requests answered 500, e.g. 0.2
//	-latency, DEMO_LATENCY       added to every page request, e.g. 50ms
//	-ready-delay, DEMO_READY_DELAY  /readyz answers 503 for this long after start
//	-unhealthy-after, DEMO_UNHEALTHY_AFTER  /healthz answers 503 from this long after start
//
// It stops on SIGINT or SIGTERM, letting in-flight requests finish for up to 10 seconds.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/internal/demoapp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demoapp:", err)
		os.Exit(2)
	}
}

func run() error {
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = ":8080"
		if p := os.Getenv("PORT"); p != "" {
			listen = ":" + p
		}
	}
	var cfg demoapp.Config
	var err error
	flag.StringVar(&cfg.Version, "version", cmp.Or(os.Getenv("VERSION"), os.Getenv("FERRY_VERSION")), "`VERSION` to show (env VERSION, or FERRY_VERSION as Ferry's Docker platform sets it)")
	flag.StringVar(&listen, "listen", listen, "listen `ADDRESS` (env LISTEN, or PORT)")
	flag.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of page requests answered 500 (env DEMO_ERROR_RATE)")
	flag.DurationVar(&cfg.Latency, "latency", 0, "latency added to page requests (env DEMO_LATENCY)")
	flag.DurationVar(&cfg.ReadyAfter, "ready-delay", 0, "how long /readyz answers 503 after start (env DEMO_READY_DELAY)")
	flag.DurationVar(&cfg.UnhealthyAfter, "unhealthy-after", 0, "how long after start /healthz begins to answer 503 (env DEMO_UNHEALTHY_AFTER; 0: never)")
	// Environment variables overwrite the zero defaults now; flag.Parse then overwrites them with any flag given.
	if s := os.Getenv("DEMO_ERROR_RATE"); s != "" {
		if cfg.ErrorRate, err = strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("DEMO_ERROR_RATE=%q: %w", s, err)
		}
	}
	for name, dst := range map[string]*time.Duration{"DEMO_LATENCY": &cfg.Latency, "DEMO_READY_DELAY": &cfg.ReadyAfter, "DEMO_UNHEALTHY_AFTER": &cfg.UnhealthyAfter} {
		if s := os.Getenv(name); s != "" {
			if *dst, err = time.ParseDuration(s); err != nil {
				return fmt.Errorf("%s=%q: %w", name, s, err)
			}
		}
	}
	flag.Parse()
	if err := cfg.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: demoapp.Handler(cfg), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("demoapp %s listening on %s", cfg.Version, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
