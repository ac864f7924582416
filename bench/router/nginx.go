package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// nginxConf is the configuration of the nginx that the benchmark starts: in the foreground, with every file
// it writes under its prefix directory, the split of Stable percent to stable (chosen per request at random, by
// a hash of the request id), keep-alive connections to the client and to the backends, and the same headers
// that the router adds to each forwarded request.
var nginxConf = template.Must(template.New("nginx.conf").Parse(`daemon off;
master_process on;
worker_processes {{.Workers}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    split_clients "${request_id}" $ferry_track {
        {{.Stable}}% stable;
        *   canary;
    }
    map $ferry_track $ferry_version {
        stable {{.StableVersion}};
        canary {{.CanaryVersion}};
    }
    upstream stable {
        server {{.StableAddr}};
        keepalive {{.Keepalive}};
        keepalive_requests 1000000;
    }
    upstream canary {
        server {{.CanaryAddr}};
        keepalive {{.Keepalive}};
        keepalive_requests 1000000;
    }

    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://$ferry_track;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Ferry-Track $ferry_track;
            proxy_set_header X-Ferry-Version $ferry_version;
        }
    }
}
`))

type nginxConfig struct {
	Dir, Listen                  string
	Workers, Keepalive, Stable   int
	StableAddr, CanaryAddr       string
	StableVersion, CanaryVersion string
}

// nginxProc is a running nginx.
type nginxProc struct {
	URL  string
	cmd  *exec.Cmd
	done chan error
	dir  string
}

// findNginx returns the path of the nginx binary: bin itself if it names a file, else bin looked up in PATH
// and then in /usr/sbin, where Debian's package installs it (often outside a user's PATH).
func findNginx(bin string) (string, error) {
	if strings.ContainsRune(bin, os.PathSeparator) {
		if _, err := os.Stat(bin); err != nil {
			return "", err
		}
		return bin, nil
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	p := filepath.Join("/usr/sbin", bin)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin (on Debian: apt-get install nginx)", bin)
}

// startNginx writes cfg into a new temporary directory and runs nginx on it, on a free loopback port, until
// stop. It returns once nginx answers on that port, or an error with the end of nginx's error log.
func startNginx(ctx context.Context, bin string, cfg nginxConfig) (*nginxProc, error) {
	dir, err := os.MkdirTemp("", "ferry-bench-nginx-")
	if err != nil {
		return nil, err
	}
	// nginx runs its workers as nobody when it starts as root; they must reach the temp directories.
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The port is picked free and released for nginx: a race with another process is possible but rare, and
	// shows as nginx failing to bind, which is reported.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg.Listen = ln.Addr().String()
	ln.Close()
	cfg.Dir = dir
	var conf strings.Builder
	if err := nginxConf.Execute(&conf, cfg); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stopWithParent(cmd)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	p := &nginxProc{URL: "http://" + cfg.Listen, cmd: cmd, done: make(chan error, 1), dir: dir}
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", cfg.Listen, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case werr := <-p.done:
			p.done <- werr
			p.stop()
			return nil, fmt.Errorf("nginx exited at start (%v): %s", werr, p.errorLog())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log := p.errorLog()
			p.stop()
			return nil, fmt.Errorf("nginx did not listen on %s within 10s: %s", cfg.Listen, log)
		}
	}
}

// errorLog returns the last lines of nginx's error log.
func (p *nginxProc) errorLog() string {
	b, err := os.ReadFile(filepath.Join(p.dir, "error.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(len(lines)-5, 0):], "\n")
}

// stop ends nginx (a fast shutdown, then a kill after 5 seconds) and removes its directory.
func (p *nginxProc) stop() error {
	defer os.RemoveAll(p.dir)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.cmd.Process.Kill()
	}
	select {
	case err := <-p.done:
		p.done <- err
		return nil
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		return errors.Join(errors.New("nginx did not stop within 5s; killed"), <-p.done)
	}
}
