package starter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// TestLiveStartSameInputs checks that a start is idempotent for the same inputs only, for a running and for
// a closed release, and that the memo records the inputs it compares.
func TestLiveStartSameInputs(t *testing.T) {
	c := liveClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	base := workflows.ReleaseInput{
		Spec:    spec.Spec{Service: "inputs", Image: spec.Image{Repository: "registry.example.com/inputs"}},
		Version: "1.4.2", GitSHA: "abc1234", StartedBy: "ci@runner",
	}
	start := func(in workflows.ReleaseInput) (Run, bool, error) {
		return Start(ctx, c, StartOptions{TaskQueue: liveQueue, Input: in})
	}
	run, existed, err := start(base)
	if err != nil || existed {
		t.Fatalf("first start: got %+v %v %v, want a new run", run, existed, err)
	}

	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := SpecDigest(base.Spec)
	if err != nil {
		t.Fatal(err)
	}
	memo := map[string]string{}
	for k, p := range desc.GetWorkflowExecutionInfo().GetMemo().GetFields() {
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			t.Fatal(err)
		}
		memo[k] = fmt.Sprint(v)
	}
	sqlDigest, err := SQLDigest(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantMemo := map[string]string{MemoGitSHA: "abc1234", MemoImage: "registry.example.com/inputs:1.4.2", MemoSpecDigest: digest,
		MemoSQLDigest: sqlDigest, MemoAllowDowngrade: "false"}
	if len(memo) != len(wantMemo) {
		t.Errorf("memo: got %v, want %v", memo, wantMemo)
	}
	for k, v := range wantMemo {
		if memo[k] != v {
			t.Errorf("memo %s: got %q, want %q", k, memo[k], v)
		}
	}

	same := func(name string, in workflows.ReleaseInput) {
		t.Helper()
		again, existed, err := start(in)
		if err != nil || !existed || again.RunID != run.RunID {
			t.Errorf("%s: got %+v %v %v, want the existing run %s", name, again, existed, err, run.RunID)
		}
	}
	same("the same inputs", base)
	explicit := base
	explicit.Image = "registry.example.com/inputs:1.4.2"
	same("the default image named explicitly", explicit)
	later := base
	later.CommitTime = time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)
	same("a commit time added (the git sha names the commit)", later)

	otherSpec := base
	otherSpec.Spec.Environments = []spec.Environment{{Name: "production"}}
	otherDigest, _ := SpecDigest(otherSpec.Spec)
	sha := base
	sha.GitSHA = "def5678"
	image := base
	image.Image = "registry.example.com/inputs@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	allow := base
	allow.AllowDowngrade = true
	sql := base
	sql.MigrationDigests = map[string]string{workflows.MigrationDigestKey("add-email-verified", workflows.DigestExpand): "e1e1"}
	otherSQL, _ := SQLDigest(sql.MigrationDigests)
	all := otherSpec
	all.GitSHA, all.Image = sha.GitSHA, image.Image

	conflicts := []struct {
		name    string
		in      workflows.ReleaseInput
		fields  []string
		message string
	}{
		{"git sha", sha, []string{"git sha"},
			"inputs 1.4.2 was already started with a different git sha: it has git sha abc1234, not def5678"},
		{"image", image, []string{"image"},
			"inputs 1.4.2 was already started with a different image: it has image registry.example.com/inputs:1.4.2, not " + image.Image},
		{"spec", otherSpec, []string{"spec"},
			"inputs 1.4.2 was already started with a different spec: it has spec " + digest[:19] + ", not " + otherDigest[:19]},
		{"migration SQL", sql, []string{"migration SQL"},
			"inputs 1.4.2 was already started with a different migration SQL: it has migration SQL " + sqlDigest[:19] + ", not " + otherSQL[:19]},
		{"allow-downgrade", allow, []string{"--allow-downgrade"},
			"inputs 1.4.2 was already started with a different --allow-downgrade: it has --allow-downgrade unset, not set"},
		{"all three", all, []string{"git sha", "image", "spec"}, ""},
	}
	check := func(when string) {
		t.Helper()
		for _, tt := range conflicts {
			got, existed, err := start(tt.in)
			var conflict *ConflictError
			if !errors.As(err, &conflict) || existed || got.RunID != "" {
				t.Errorf("%s, other %s: got %+v %v %v, want a *ConflictError", when, tt.name, got, existed, err)
				continue
			}
			var fields []string
			for _, d := range conflict.Differences {
				fields = append(fields, d.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("%s, other %s: got differences %+v, want %q", when, tt.name, conflict.Differences, tt.fields)
			}
			if tt.message != "" && err.Error() != tt.message {
				t.Errorf("%s, other %s: got %q, want %q", when, tt.name, err, tt.message)
			}
		}
	}
	check("running")

	// Once the release has ended, the same inputs report it and other inputs are still refused.
	if _, err := Approve(ctx, c, run, workflows.ApproveInput{Env: "production", Identity: "alice"}); err != nil {
		t.Fatal(err)
	}
	if res, err := Wait(ctx, c, run); err != nil || res.State != workflows.StateSucceeded {
		t.Fatalf("Wait: got %+v %v, want succeeded", res, err)
	}
	same("the same inputs after the end", base)
	check("ended")
}
