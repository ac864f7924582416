package starter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// Memo keys of a release: the inputs a second start of the same version is compared with.
const (
	MemoGitSHA         = "gitSha"
	MemoImage          = "image"
	MemoSpecDigest     = "specDigest"
	MemoAllowDowngrade = "allowDowngrade"
	MemoCommitTime     = "commitTime"
	// MemoSQLDigest is SQLDigest of the release's pinned migration files.
	MemoSQLDigest = "sqlDigest"
)

// SpecDigest is the digest of a spec as a release is sent it: "sha256:" and the hex SHA-256 of its JSON
// encoding (struct fields in declaration order, map keys sorted), so the same spec always has the same digest
// and any change to what the workflow receives changes it. Formatting and comments of the YAML file do not
// count.
func SpecDigest(s spec.Spec) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("digest the spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// SQLDigest is the digest of a release's pinned migration files (ReleaseInput.MigrationDigests): "sha256:"
// and the hex SHA-256 of their JSON encoding (keys sorted), so a migration file that changes changes it.
func SQLDigest(digests map[string]string) (string, error) {
	b, err := json.Marshal(digests)
	if err != nil {
		return "", fmt.Errorf("digest the migration files: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// memo is what a release records about its inputs at start.
type memo struct {
	gitSHA         string
	image          string // the artifact reference, the default one resolved
	specDigest     string
	sqlDigest      string
	allowDowngrade bool
	commitTime     time.Time // informational: not compared
}

func memoOf(in workflows.ReleaseInput) (memo, error) {
	d, err := SpecDigest(in.Spec)
	if err != nil {
		return memo{}, err
	}
	sql, err := SQLDigest(in.MigrationDigests)
	if err != nil {
		return memo{}, err
	}
	image := in.Image
	if image == "" {
		image = in.Spec.Image.Repository + ":" + in.Version
	}
	return memo{gitSHA: in.GitSHA, image: image, specDigest: d, sqlDigest: sql, allowDowngrade: in.AllowDowngrade,
		commitTime: in.CommitTime}, nil
}

func (m memo) fields() map[string]any {
	f := map[string]any{MemoGitSHA: m.gitSHA, MemoImage: m.image, MemoSpecDigest: m.specDigest, MemoSQLDigest: m.sqlDigest,
		MemoAllowDowngrade: m.allowDowngrade}
	if !m.commitTime.IsZero() {
		f[MemoCommitTime] = m.commitTime.UTC().Format(time.RFC3339)
	}
	return f
}

// ConflictError refuses a start of a version whose release was started with other inputs. Nothing changed.
type ConflictError struct {
	Run Run
	// Differences names each input that differs, in a fixed order: git sha, image, spec, migration SQL,
	// --allow-downgrade.
	Differences []Difference
}

// Difference is one input of a release that a second start asked differently.
type Difference struct {
	// Field is the input's name as a person reads it: "git sha", "image", "spec", "migration SQL" or
	// "--allow-downgrade".
	Field string `json:"field"`
	// Existing is what the release was started with; Requested what the refused start asked.
	Existing  string `json:"existing"`
	Requested string `json:"requested"`
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Differences))
	for i, d := range e.Differences {
		parts[i] = fmt.Sprintf("%s %s, not %s", d.Field, short(d.Existing), short(d.Requested))
	}
	return fmt.Sprintf("%s %s was already started with a different %s: it has %s", e.Run.Service, e.Run.Version,
		joinAnd(fieldNames(e.Differences)), strings.Join(parts, "; "))
}

// short abbreviates a spec digest to its first 12 hex digits, as one reads it in a message.
func short(s string) string {
	if strings.HasPrefix(s, "sha256:") && len(s) > len("sha256:")+12 {
		return s[:len("sha256:")+12]
	}
	return s
}

func fieldNames(ds []Difference) []string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Field
	}
	return names
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// checkSameInputs compares the memo of the existing release run with want and returns a *ConflictError when
// they differ. A memo entry that is missing (a release started before Ferry recorded it) is not compared.
func checkSameInputs(ctx context.Context, c client.Client, dc converter.DataConverter, run Run, want memo) error {
	desc, err := c.DescribeWorkflowExecution(ctx, run.WorkflowID, run.RunID)
	if err != nil {
		return fmt.Errorf("compare with the existing release %s %s: %w", run.Service, run.Version, err)
	}
	fields := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	str := func(key string) (string, bool) {
		p, ok := fields[key]
		if !ok {
			return "", false
		}
		var v string
		if dc.FromPayload(p, &v) != nil {
			return "", false
		}
		return v, true
	}
	var diffs []Difference
	if got, ok := str(MemoGitSHA); ok && got != want.gitSHA {
		diffs = append(diffs, Difference{Field: "git sha", Existing: got, Requested: want.gitSHA})
	}
	// Releases from before the default image was recorded have an empty image: the spec digest covers it.
	if got, ok := str(MemoImage); ok && got != "" && got != want.image {
		diffs = append(diffs, Difference{Field: "image", Existing: got, Requested: want.image})
	}
	if got, ok := str(MemoSpecDigest); ok && got != want.specDigest {
		diffs = append(diffs, Difference{Field: "spec", Existing: got, Requested: want.specDigest})
	}
	if got, ok := str(MemoSQLDigest); ok && got != want.sqlDigest {
		diffs = append(diffs, Difference{Field: "migration SQL", Existing: got, Requested: want.sqlDigest})
	}
	if p, ok := fields[MemoAllowDowngrade]; ok {
		var got bool
		if dc.FromPayload(p, &got) == nil && got != want.allowDowngrade {
			diffs = append(diffs, Difference{Field: "--allow-downgrade", Existing: onOff(got), Requested: onOff(want.allowDowngrade)})
		}
	}
	if len(diffs) > 0 {
		return &ConflictError{Run: run, Differences: diffs}
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "set"
	}
	return "unset"
}
