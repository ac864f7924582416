package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// kamalProc is a running kamal-proxy, routing host to one target.
type kamalProc struct {
	URL  string
	cmd  *exec.Cmd
	done chan error
	dir  string
}

// startKamal runs the kamal-proxy binary bin with its state, socket and home in a new temporary directory,
// on free ports, and deploys target (HOST:PORT, health path healthPath) for host. It returns once the
// deploy is done. The ports are picked free on loopback; kamal-proxy itself binds them as its build does.
func startKamal(ctx context.Context, bin, target, host, healthPath string) (*kamalProc, error) {
	dir, err := os.MkdirTemp("", "ferry-bench-kamal-")
	if err != nil {
		return nil, err
	}
	ports := make([]int, 2)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	env := append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir, "KAMAL_PROXY_SOCKET="+filepath.Join(dir, "kamal-proxy.sock"))
	cmd := exec.Command(bin, "run", fmt.Sprintf("--http-port=%d", ports[0]), fmt.Sprintf("--https-port=%d", ports[1]))
	cmd.Env = env
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start kamal-proxy: %w", err)
	}
	p := &kamalProc{URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), cmd: cmd, done: make(chan error, 1), dir: dir}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		deploy := exec.CommandContext(ctx, bin, "deploy", "bench", "--target", target, "--host", host,
			"--health-check-path", healthPath, "--health-check-interval", "1s")
		deploy.Env = env
		out, err := deploy.CombinedOutput()
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("kamal-proxy deploy: %w: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends kamal-proxy and removes its directory.
func (p *kamalProc) stop() error {
	defer os.RemoveAll(p.dir)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		return errors.New("kamal-proxy did not stop within 10s; killed")
	}
}
