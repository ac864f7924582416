package buildtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/activities"
	"github.com/ferryhq/ferry/internal/devserver"
	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/starter"
	"github.com/ferryhq/ferry/worker"
	"github.com/ferryhq/ferry/workflows"
)

// A release whose spec has image.build, run by a real worker on the embedded Temporal server: the worker builds
// the demo service on the engine and pushes it to the registry, the release records the digest in its status
// and the FerryDigest search attribute, and the deploy command gets the image by that digest.
func TestReleaseBuildsAndDeploysTheDigest(t *testing.T) {
	_, repo := artifact(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := filepath.Join(root, "release")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	deploy := "#!/bin/sh\necho \"$FERRY_ENV $FERRY_IMAGE $FERRY_DIGEST $FERRY_IMAGE_TAG\" >> \"$(dirname \"$0\")/deploys.txt\"\n"
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte(deploy), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`service: built
image: {repository: %s, build: {context: demo}}
platform:
  exec: {dir: release, deploy: [./deploy.sh], rollback: [./deploy.sh], remove: [./deploy.sh]}
environments:
  - {name: staging, strategy: {type: recreate}}
  - {name: production, strategy: {type: recreate}}
`, repo)
	s, err := spec.Parse([]byte(yaml), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}

	srv, err := devserver.Start(ctx, devserver.Options{UIPort: -1, Logger: quiet()})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	defer srv.Stop()
	c, err := worker.Dial(ctx, worker.DialOptions{HostPort: srv.FrontendHostPort(), Namespace: srv.Namespace(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := worker.Config{}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		cfg.Docker.Hosts = map[string]worker.DockerHost{"local": {Address: h}}
	}
	w := worker.New(c, worker.Options{TaskQueue: "buildtest", Logger: quiet(), Config: cfg,
		Exec: activitiesPolicy()})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	run, _, err := starter.Start(ctx, c, starter.StartOptions{TaskQueue: "buildtest",
		Input: workflows.ReleaseInput{Spec: *s, Version: "3.0.0", GitSHA: "fedcba9"}})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.ReleaseResult
	if err := c.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &res); err != nil {
		t.Fatalf("release: %v", err)
	}
	if res.State != workflows.StateSucceeded || !strings.HasPrefix(res.Digest, "sha256:") || res.Image != repo+"@"+res.Digest {
		t.Fatalf("got %+v, want succeeded with %s@sha256:...", res, repo)
	}

	data, err := os.ReadFile(filepath.Join(dir, "deploys.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("staging %[1]s %[2]s %[3]s:3.0.0\nproduction %[1]s %[2]s %[3]s:3.0.0\n", res.Image, res.Digest, repo)
	if string(data) != want {
		t.Errorf("got deploys:\n%s\nwant:\n%s", data, want)
	}

	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrDigest]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &got)
	}
	if got != res.Digest {
		t.Errorf("got %s %q, want %s", workflows.SearchAttrDigest, got, res.Digest)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// activitiesPolicy lets the release's commands run from the exec root.
func activitiesPolicy() activities.ExecPolicy {
	return activities.ExecPolicy{Root: root, Allow: []string{filepath.Join(root, "**")}, Env: []string{"PATH=" + os.Getenv("PATH")}}
}
