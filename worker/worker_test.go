package worker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/dockertest"
	"github.com/ferryhq/ferry/internal/execrun"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// TestNewStartsOnDevServer registers everything (a duplicate activity name would panic here) and starts the
// worker against the embedded server, which checks the registrations and the task queue.
func TestNewStartsOnDevServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := devClient(ctx, t)
	w := New(c, Options{TaskQueue: "worker-test", Logger: quietLogger()})
	if err := w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	w.Stop()
}

func TestDialUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, DialOptions{HostPort: addr, Logger: quietLogger()})
	if err == nil {
		c.Close()
		t.Fatalf("Dial(%s): got nil error, want one", addr)
	}
	t.Logf("Dial error: %v", err)
	var unavailable *serviceerror.Unavailable
	if !errors.As(err, &unavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial(%s) = %v, want a wrapped Unavailable or deadline error", addr, err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("Dial error %q does not name the address %s", err, addr)
	}
}

// blockingRunner runs no command: each Run reports on started and returns when release is closed.
type blockingRunner struct{ started, release chan struct{} }

func (b blockingRunner) Run(context.Context, execrun.Command) (execrun.Result, error) {
	b.started <- struct{}{}
	<-b.release
	return execrun.Result{}, nil
}

// Stop returns only once every command has exited: the commands it counts are those of activities.
func TestStopWaitsForRunningCommands(t *testing.T) {
	f := newInflight()
	b := blockingRunner{started: make(chan struct{}), release: make(chan struct{})}
	r := trackedRunner{runner: b, commands: f}
	go func() { _, _ = r.Run(context.Background(), execrun.Command{}) }()
	<-b.started
	waited := make(chan struct{})
	go func() {
		f.wait()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("wait returned while a command ran")
	case <-time.After(200 * time.Millisecond):
	}
	close(b.release)
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return within 5s of the command's end")
	}
}

// A started worker polls the task queue of its Docker engine (found by the engine's ID), for activities only,
// and stops polling it when it stops.
func TestWorkerPollsItsEngineQueue(t *testing.T) {
	eng := dockertest.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := eng.EngineID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := devClient(ctx, t)
	w := New(c, Options{TaskQueue: "worker-engine-test", Logger: quietLogger(), DockerHost: os.Getenv("DOCKER_HOST")})
	if err := w.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	queue := activities.EngineQueue("worker-engine-test", id)
	pollers := func(kind enumspb.TaskQueueType) int {
		d, err := c.DescribeTaskQueue(ctx, queue, kind)
		if err != nil {
			t.Fatalf("describe %s: %v", queue, err)
		}
		return len(d.GetPollers())
	}
	for pollers(enumspb.TASK_QUEUE_TYPE_ACTIVITY) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("no worker polls %s", queue)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := pollers(enumspb.TASK_QUEUE_TYPE_WORKFLOW); n != 0 {
		t.Errorf("got %d workflow pollers on the engine's queue, want none: it serves activities only", n)
	}
	w.Stop()
	if err := w.queues.poll(id); err == nil {
		t.Error("a stopped worker started polling an engine's queue again")
	}
}

// devClient starts an embedded Temporal server and dials it; both close when t ends.
func devClient(ctx context.Context, t *testing.T) client.Client {
	t.Helper()
	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	c, err := Dial(ctx, DialOptions{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(), Logger: quietLogger()})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}
