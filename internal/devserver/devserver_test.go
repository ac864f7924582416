package devserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ferryhq/ferry/workflows"
)

// helperDB makes the test binary a helper process that writes one workflow into a DBFile and exits; the
// persistence test runs it so that the restart really opens the file anew.
var helperDB = flag.String("devserver.helper-db", "", "internal: run as the DBFile helper process on this file")

func TestMain(m *testing.M) {
	flag.Parse()
	if *helperDB != "" {
		if err := writeDB(*helperDB); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writeDB starts a server on file, starts a workflow that no worker runs (so it stays open), prints its ID and
// stops the server.
func writeDB(file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Port: 0, UIPort: -1, DBFile: file, Logger: testLogger()})
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: s.FrontendHostPort(), Namespace: s.Namespace()})
	if err != nil {
		return err
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "persisted", TaskQueue: "nobody"}, "Trivial")
	c.Close()
	if err != nil {
		return err
	}
	fmt.Println(run.GetID())
	return s.Stop()
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts.Logger = testLogger()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func dial(t testing.TB, s *Server) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.FrontendHostPort(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(testLogger()),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendHostPort(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestServer runs one server on free ports through every check that needs a running server, and stops it last.
func TestServer(t *testing.T) {
	s := startServer(t, Options{Port: 0, Namespace: "ferry-test", CodecEndpoint: "http://127.0.0.1:8234"})
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("namespace", func(t *testing.T) {
		if got, want := s.Namespace(), "ferry-test"; got != want {
			t.Fatalf("Namespace() = %q, want %q", got, want)
		}
		resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
		if err != nil {
			t.Fatalf("describe namespace: %v", err)
		}
		if got := resp.GetNamespaceInfo().GetState(); got != enumspb.NAMESPACE_STATE_REGISTERED {
			t.Errorf("namespace state = %v, want %v", got, enumspb.NAMESPACE_STATE_REGISTERED)
		}
		if got, want := resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(), namespaceRetention; got != want {
			t.Errorf("retention = %v, want %v", got, want)
		}
	})

	t.Run("search attributes", func(t *testing.T) {
		checkSearchAttributes(ctx, t, c, s.Namespace())
		// A release upserts them right after `ferry dev` starts: the frontend must accept them now, and
		// visibility must find the workflow by them.
		sa := temporal.NewSearchAttributes(temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrService).ValueSet("checkout"))
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "with-search-attributes", TaskQueue: "nobody", TypedSearchAttributes: sa,
		}, "Trivial")
		if err != nil {
			t.Fatalf("start workflow with search attributes: %v", err)
		}
		query := fmt.Sprintf("%s = 'checkout'", workflows.SearchAttrService)
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				t.Fatalf("list %q: %v", query, err)
			}
			if len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == run.GetID() {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("list %q: got %d executions, want %s", query, len(resp.GetExecutions()), run.GetID())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("search attributes idempotent", func(t *testing.T) {
		// A namespace from an older database, without Ferry's attributes: the operator service adds them once.
		const bare = "bare"
		_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: bare, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		if err != nil {
			t.Fatalf("register namespace: %v", err)
		}
		for i, want := range []bool{true, false} {
			added, err := ensureSearchAttributes(ctx, c.OperatorService(), bare)
			if err != nil {
				t.Fatalf("call %d: ensureSearchAttributes: %v", i+1, err)
			}
			if added != want {
				t.Errorf("call %d: added = %v, want %v", i+1, added, want)
			}
		}
		checkSearchAttributes(ctx, t, c, bare)
		added, err := ensureSearchAttributes(ctx, c.OperatorService(), s.Namespace())
		if err != nil || added {
			t.Errorf("ensureSearchAttributes on the started namespace = %v, %v; want false, nil", added, err)
		}
	})

	t.Run("ui codec endpoint", func(t *testing.T) {
		resp, err := http.Get(s.UIURL() + "/api/v1/settings")
		if err != nil {
			t.Fatalf("GET settings: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"Endpoint":"http://127.0.0.1:8234"`) {
			t.Errorf("GET settings: got status %d, body %.300s, want the codec endpoint", resp.StatusCode, body)
		}
	})

	t.Run("ui", func(t *testing.T) {
		if !strings.HasPrefix(s.UIURL(), "http://127.0.0.1:") {
			t.Fatalf("UIURL() = %q, want http://127.0.0.1:<port>", s.UIURL())
		}
		resp, err := http.Get(s.UIURL() + "/")
		if err != nil {
			t.Fatalf("GET /: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read GET / body: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET / status = %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET / Content-Type = %q, want text/html", ct)
		}
		if !strings.Contains(strings.ToLower(string(body)), "<html") {
			t.Errorf("GET / body has no <html>: %.200s", body)
		}
	})

	t.Run("stop releases ports", func(t *testing.T) {
		uiHostPort := strings.TrimPrefix(s.UIURL(), "http://")
		c.Close()
		if err := s.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Stop(); err != nil {
			t.Errorf("second Stop: %v, want nil", err)
		}
		for _, hostPort := range []string{s.FrontendHostPort(), uiHostPort} {
			l, err := net.Listen("tcp", hostPort)
			if err != nil {
				t.Errorf("listen on %s after Stop: %v", hostPort, err)
				continue
			}
			l.Close()
		}
	})
}

func checkSearchAttributes(ctx context.Context, t *testing.T, c client.Client, namespace string) {
	t.Helper()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("list search attributes of %s: %v", namespace, err)
	}
	for _, name := range workflows.SearchAttributes {
		if got, want := resp.GetCustomAttributes()[name], enumspb.INDEXED_VALUE_TYPE_KEYWORD; got != want {
			t.Errorf("%s: search attribute %s = %v, want %v", namespace, name, got, want)
		}
	}
}

// TestDBFilePersists checks that a server started on an existing DBFile sees the workflows of an earlier server
// on it: first one in another process, then one in this process.
func TestDBFilePersists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ferry.db")
	out, err := exec.Command(os.Args[0], "-devserver.helper-db="+file).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helper process: %v\n%s", err, stderr)
	}
	id := strings.TrimSpace(string(out))

	for _, round := range []string{"after the helper process", "after an in-process restart"} {
		s := startServer(t, Options{Port: 0, UIPort: -1, DBFile: file})
		if got := s.UIURL(); got != "" {
			t.Errorf("UIURL() with UIPort -1 = %q, want empty", got)
		}
		c := dial(t, s)
		desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatalf("%s: describe %s: %v", round, id, err)
		}
		if got, want := desc.GetWorkflowExecutionInfo().GetStatus(), enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING; got != want {
			t.Errorf("%s: status = %v, want %v", round, got, want)
		}
		c.Close()
		if err := s.Stop(); err != nil {
			t.Fatalf("%s: Stop: %v", round, err)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name       string
		in         Options
		wantPort   int
		wantUIPort int
	}{
		{"zero: both picked at start", Options{}, 0, 0},
		{"default port", Options{Port: DefaultPort}, DefaultPort, DefaultUIPort},
		{"other port", Options{Port: 7300}, 7300, 8300},
		{"ui port", Options{Port: 7300, UIPort: 9000}, 7300, 9000},
		{"free port, fixed ui port", Options{UIPort: 9000}, 0, 9000},
		{"no ui", Options{Port: DefaultPort, UIPort: -1}, DefaultPort, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if err != nil {
				t.Fatalf("withDefaults: %v", err)
			}
			if got.IP != DefaultIP || got.Namespace != DefaultNamespace || got.TimerMaxTimeShift != DefaultTimerMaxTimeShift {
				t.Errorf("got IP %q namespace %q shift %v, want %q %q %v", got.IP, got.Namespace, got.TimerMaxTimeShift,
					DefaultIP, DefaultNamespace, DefaultTimerMaxTimeShift)
			}
			if got.Port != tt.wantPort || got.UIPort != tt.wantUIPort {
				t.Errorf("got ports %d, %d, want %d, %d", got.Port, got.UIPort, tt.wantPort, tt.wantUIPort)
			}
		})
	}

	bad := []Options{
		{IP: "localhost"}, {Port: 70000}, {Port: -1}, {UIPort: -2}, {Port: 65000}, {TimerMaxTimeShift: -time.Second},
	}
	for _, o := range bad {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("withDefaults(%+v): got nil error, want one", o)
		}
	}
}

func TestStartPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	for _, o := range []Options{{Port: port, UIPort: -1}, {UIPort: port}} {
		s, err := Start(context.Background(), o)
		if err == nil {
			s.Stop()
			t.Fatalf("Start(%+v) with port %d in use: got nil error, want one", o, port)
		}
		if !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Start(%+v) = %v, want address already in use", o, err)
		}
	}
}
