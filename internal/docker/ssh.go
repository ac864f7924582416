package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/client"
)

// sshTarget is an ssh:// Docker host: the engine of the machine that ssh logs in to.
type sshTarget struct {
	user, host, port string
}

// parseSSH reads ssh://[USER@]HOST[:PORT]. A password, a path or a query is refused: ssh authenticates with
// the worker's keys or agent, and the remote engine is the one `docker` reaches there.
func parseSSH(addr string) (sshTarget, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" {
		return sshTarget{}, fmt.Errorf("%q is not an ssh://[USER@]HOST[:PORT] address", addr)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		return sshTarget{}, fmt.Errorf("%s: a password in the address is not supported: ssh logs in with the worker's keys or agent", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return sshTarget{}, fmt.Errorf("%s: an ssh:// address has no path or query", addr)
	}
	t := sshTarget{user: u.User.Username(), host: u.Hostname(), port: u.Port()}
	if strings.HasPrefix(t.user, "-") || strings.HasPrefix(t.host, "-") {
		return sshTarget{}, fmt.Errorf("%s: a user or host beginning with - is refused", addr)
	}
	return t, nil
}

// args are ssh's arguments: log in to the host and run `docker system dial-stdio` there, which joins its
// standard input and output to the remote engine's socket. -T and BatchMode keep ssh from asking anything: a
// worker has nobody to answer a password or an unknown host key, so those fail instead.
func (t sshTarget) args() []string {
	args := []string{"-T", "-o", "BatchMode=yes"}
	if t.user != "" {
		args = append(args, "-l", t.user)
	}
	if t.port != "" {
		args = append(args, "-p", t.port)
	}
	return append(args, "--", t.host, "docker", "system", "dial-stdio")
}

// options are the SDK client's options for t: each connection is one ssh process. The address the SDK is
// given names no real host; the dialer ignores it.
func (t sshTarget) options() []client.Opt {
	tr := &http.Transport{}
	return []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: client.CheckRedirect}),
		client.WithHost("http://docker.invalid"),
		func(*client.Client) error {
			tr.Proxy = nil
			tr.DialContext = func(context.Context, string, string) (net.Conn, error) { return t.dial() }
			return nil
		},
	}
}

// dial starts ssh (the program found in PATH) and returns a connection over its standard input and output.
// The process lives as long as the connection, not as the dial's context: closing the connection ends it.
func (t sshTarget) dial() (net.Conn, error) {
	cmd := exec.Command("ssh", t.args()...)
	stderr := &tail{max: 2048}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ssh %s: %w", t.host, err)
	}
	return &cmdConn{cmd: cmd, stdin: stdin, stdout: stdout, stderr: stderr, host: t.host}, nil
}

// cmdConn is a connection over a process's standard input and output.
type cmdConn struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  io.ReadCloser
	stderr  *tail
	host    string
	waitOne sync.Once
	waitErr error
}

// Read reads what the process writes. At its end, a process that failed gives an error with the end of what
// it wrote to its standard error (ssh's own complaint: a refused key, an unknown host, no docker there).
func (c *cmdConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if errors.Is(err, io.EOF) {
		if werr := c.wait(); werr != nil {
			return n, fmt.Errorf("ssh %s: %v: %s", c.host, werr, strings.TrimSpace(c.stderr.String()))
		}
	}
	return n, err
}

func (c *cmdConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

// CloseWrite closes the process's standard input, so that the remote side sees the end of the request stream.
func (c *cmdConn) CloseWrite() error { return c.stdin.Close() }

// Close ends the process.
func (c *cmdConn) Close() error {
	_ = c.stdin.Close()
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
	_ = c.wait()
	return nil
}

func (c *cmdConn) wait() error {
	c.waitOne.Do(func() { c.waitErr = c.cmd.Wait() })
	return c.waitErr
}

func (c *cmdConn) LocalAddr() net.Addr  { return cmdAddr("ssh") }
func (c *cmdConn) RemoteAddr() net.Addr { return cmdAddr("ssh " + c.host) }

// Deadlines are not supported: the HTTP client bounds its requests with their contexts.
func (c *cmdConn) SetDeadline(time.Time) error      { return nil }
func (c *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cmdConn) SetWriteDeadline(time.Time) error { return nil }

// cmdAddr is the address of a process connection.
type cmdAddr string

func (a cmdAddr) Network() string { return "cmd" }
func (a cmdAddr) String() string  { return string(a) }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
