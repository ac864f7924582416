package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/router"
)

// serveRouter is the router process: the benchmark runs this same binary with -serve-router, so that the
// router, like nginx, has its own process and its own GOMAXPROCS, and a CPU profile of it holds the router
// alone. It prints its traffic address, admin address and admin token on one line, then serves until its
// standard input closes (which also happens when the benchmark dies).
func serveRouter(procs int, cpuprofile string) error {
	runtime.GOMAXPROCS(procs)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(router.GCPercent) // as `ferry router` does
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := router.New(router.Options{})
	if err != nil {
		return err
	}
	traffic, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	token := randomToken()
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, traffic, admin, router.ServeOptions{AdminToken: token}) }()
	fmt.Printf("%s %s %s\n", traffic.Addr(), admin.Addr(), token)
	io.Copy(io.Discard, os.Stdin)
	cancel()
	return <-served
}

// routerProc is a running router process.
type routerProc struct {
	URL    string
	Client *router.Client
	cmd    *exec.Cmd
	stdin  io.Closer
	done   chan error
}

// startRouter starts the router process with procs as its GOMAXPROCS: this binary, or bin (a build of this
// benchmark at another commit) if it is not empty.
func startRouter(bin string, procs int, cpuprofile string) (*routerProc, error) {
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		bin = self
	}
	cmd := exec.Command(bin, "-serve-router", fmt.Sprintf("-procs=%d", procs), "-cpuprofile="+cpuprofile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start router: %w", err)
	}
	p := &routerProc{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case s := <-line:
		f := strings.Fields(s)
		if len(f) != 3 {
			p.stop()
			return nil, fmt.Errorf("router process: unexpected first line %q", s)
		}
		p.URL = "http://" + f[0]
		p.Client = &router.Client{BaseURL: "http://" + f[1], Token: f[2]}
		return p, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("router process did not start within 30s")
	}
}

// stop closes the router's standard input, which stops it, and waits for it (killing it after 10 seconds).
func (p *routerProc) stop() error {
	p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("router process: %w", err)
		}
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("router process did not stop within 10s; killed")
	}
}
