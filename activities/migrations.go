package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferryhq/ferry/internal/migrate"
	"github.com/ferryhq/ferry/internal/postgres"
	"github.com/ferryhq/ferry/internal/spec"
)

// Error types of the migration activities.
const (
	// ErrTypeLockTimeout is a statement that waited longer than lock_timeout (SQLSTATE 55P03). Retryable, with
	// the backoff of the workflow's retry policy: the lock holder is usually a long query of the running version.
	ErrTypeLockTimeout = "LockTimeout"
	// ErrTypeChecksumMismatch is a migration file that changed after it was applied, or whose bytes differ from
	// the digest the release pinned when it started. Non-retryable.
	ErrTypeChecksumMismatch = "ChecksumMismatch"
	// ErrTypeLint is a migration file that fails the lint. Non-retryable.
	ErrTypeLint = "MigrationLint"
)

// maxSQLFile bounds a migration file the worker reads.
const maxSQLFile = 1 << 20

// Databases gives the connection string of a database named by a spec, in an environment. The worker's
// configuration holds them; the string holds a password and never leaves the worker.
type Databases interface {
	DSN(env, name string) (string, error)
}

// Migrations holds the activities of expand-contract migrations on PostgreSQL. The worker registers
// &Migrations{Databases: ..., Exec: policy, Redact: redactor}; the Release and Contract workflows call them.
//
// SQL files are paths relative to the spec's directory, read from the worker's copy of it, Exec.Root: a path
// that leaves the root (by "..", an absolute path or a symbolic link) is refused. Every error leaves through
// Redact, and no error names a connection string.
type Migrations struct {
	Databases Databases
	Exec      *ExecPolicy
	Redact    Redactor
}

// MigrationRequest names a migration of a spec and the environment whose database it runs on.
type MigrationRequest struct {
	Env       string         `json:"env"`
	Migration spec.Migration `json:"migration"`
	// Service is the spec's service: ferry.migrations keys its records by service and migration name, so that
	// two services that name a migration alike in one database keep apart. Empty in requests of releases that
	// began before records named their service: those read and write the records without one.
	Service string `json:"service,omitempty"`
	// Digest is the SHA-256 (hex) of the file this phase reads, as `ferry start` read it (see
	// workflows.ReleaseInput.MigrationDigests): a file on the worker whose bytes differ is refused with
	// ErrTypeChecksumMismatch before anything runs. Empty in requests of releases started before digests were
	// pinned: those run the file as it is.
	Digest string `json:"digest,omitempty"`
}

// ExpandResult is what Expand did.
type ExpandResult struct {
	Checksum string `json:"checksum"`
	// Applied is false when the expand was already recorded and nothing ran.
	Applied bool `json:"applied"`
}

// Expand lints the migration's expand file and applies it to the environment's database once (see
// postgres.Expand): running it twice is running it once, since ferry.migrations records it. A lint error and a
// file changed after it was applied are non-retryable; a lock timeout is a retryable ErrTypeLockTimeout,
// which the workflow's retry policy retries with backoff; a lost connection is retryable.
func (m *Migrations) Expand(ctx context.Context, in MigrationRequest) (ExpandResult, error) {
	res, err := m.apply(ctx, in, in.Migration.Expand, migrate.PhaseExpand, postgres.Expand)
	if err != nil {
		return ExpandResult{}, redactError(m.Redact, err)
	}
	return ExpandResult{Checksum: res.Checksum, Applied: res.Applied}, nil
}

// ContractResult is what Contract did.
type ContractResult struct {
	Checksum string `json:"checksum"`
	Applied  bool   `json:"applied"`
	// Irreversible is set when the lint found statements that destroy data or names.
	Irreversible bool `json:"irreversible,omitempty"`
	// Dropped lists what the contract removes, as the lint names it: "column users.legacy_flag".
	Dropped []string `json:"dropped,omitempty"`
}

// Contract lints the migration's contract file (the lock rules; destruction is allowed and reported as
// Irreversible) and applies it to the environment's database once, recorded in ferry.migrations like Expand.
// The Contract workflow calls it only once no older version is left. Idempotent; errors as Expand's.
func (m *Migrations) Contract(ctx context.Context, in MigrationRequest) (ContractResult, error) {
	c := in.Migration.Contract
	if c == nil {
		return ContractResult{}, invalidSpec(fmt.Sprintf("migration %s has no contract", in.Migration.Name), nil)
	}
	var out ContractResult
	res, err := m.apply(ctx, in, c.SQL, migrate.PhaseContract, func(ctx context.Context, conn *pgx.Conn, req postgres.ExpandRequest) (postgres.ExpandResult, error) {
		lint, err := migrate.Lint(c.SQL, string(req.SQL), migrate.PhaseContract)
		if err == nil {
			out.Irreversible = lint.Irreversible
			out.Dropped = Dropped(lint)
		}
		return postgres.Contract(ctx, conn, req)
	})
	if err != nil {
		return ContractResult{}, redactError(m.Redact, err)
	}
	out.Checksum, out.Applied = res.Checksum, res.Applied
	return out, nil
}

// Dropped lists what a contract's lint says it destroys: "column users.legacy_flag", "table users_old".
func Dropped(r migrate.Result) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Rule != migrate.RuleIrreversible {
			continue
		}
		for _, verb := range []string{"drops ", "truncates ", "renames ", "changes the type of "} {
			if rest, ok := strings.CutPrefix(f.Message, verb); ok {
				out = append(out, rest)
			}
		}
	}
	return out
}

// apply reads and lints file, then runs it with run on a connection to the environment's database.
func (m *Migrations) apply(ctx context.Context, in MigrationRequest, file string, phase migrate.Phase,
	run func(context.Context, *pgx.Conn, postgres.ExpandRequest) (postgres.ExpandResult, error)) (postgres.ExpandResult, error) {
	name := in.Migration.Name
	sql, err := m.readSQL(file)
	if err != nil {
		return postgres.ExpandResult{}, invalidSpec(fmt.Sprintf("migration %s: %v", name, err), nil)
	}
	if err := checkPinned(name, file, phase, sql, in.Digest); err != nil {
		return postgres.ExpandResult{}, err
	}
	lint, err := migrate.Lint(file, string(sql), phase)
	if err != nil {
		return postgres.ExpandResult{}, invalidSpec(fmt.Sprintf("migration %s: lint %s: %v", name, file, err), nil)
	}
	if n := lint.Errors(); n > 0 {
		var lines []string
		for _, f := range lint.Findings {
			if f.Severity == migrate.SeverityError {
				lines = append(lines, f.String())
			}
		}
		return postgres.ExpandResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("migration %s: %s fails the %s lint: %s", name, file, phase, strings.Join(lines, "; ")), ErrTypeLint, nil)
	}
	conn, err := m.connect(ctx, in.Env, in.Migration.Database)
	if err != nil {
		return postgres.ExpandResult{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// A run that waits for another migration run of this database to finish shows it is alive.
	stop := keepAlive(ctx)
	defer stop()
	res, err := run(ctx, conn, postgres.ExpandRequest{Service: in.Service, Name: name, SQL: sql})
	return res, classifyDB(err)
}

// checkPinned refuses, non-retryably, a file whose SHA-256 is not want, the digest the release pinned when it
// started. An empty want (a release started before digests were pinned) accepts any file.
func checkPinned(name, file string, phase migrate.Phase, sql []byte, want string) error {
	if want == "" {
		return nil
	}
	sum := sha256.Sum256(sql)
	got := hex.EncodeToString(sum[:])
	if got == want {
		return nil
	}
	// A failed Contract workflow is never started again, so only a new migration runs a changed contract.
	remedy := "release again to run the new file"
	if phase == migrate.PhaseContract {
		remedy = "this contract does not run; ship the change as a new migration"
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"migration %s: %s on the worker has sha256 %s, but the release pinned sha256 %s when it started: %s",
		name, file, got, want, remedy), ErrTypeChecksumMismatch, nil)
}

// classifyDB gives a database error its Temporal type.
func classifyDB(err error) error {
	var lockTimeout *postgres.LockTimeoutError
	var mismatch *postgres.ChecksumMismatchError
	var refused *postgres.RefusedStatementError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeLint, nil)
	case errors.As(err, &lockTimeout):
		return temporal.NewApplicationError(err.Error(), ErrTypeLockTimeout)
	case errors.As(err, &mismatch):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeChecksumMismatch, nil)
	case errors.Is(err, migrate.ErrNoParser):
		return invalidSpec(err.Error(), nil)
	}
	return err
}

// connect opens a session to a database of an environment. A database the worker does not know is invalid
// input; a failed connection is retryable.
func (m *Migrations) connect(ctx context.Context, env, database string) (*pgx.Conn, error) {
	if m.Databases == nil {
		return nil, invalidSpec(fmt.Sprintf("database %s: the worker has no databases configured", database), nil)
	}
	dsn, err := m.Databases.DSN(env, database)
	if err != nil {
		return nil, invalidSpec(fmt.Sprintf("database %s: %v", database, err), nil)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgx's message names host, user and database, never the password; Redact sees it anyway.
		return nil, fmt.Errorf("connect to database %s in %s: %w", database, env, err)
	}
	return conn, nil
}

// readSQL reads a migration file under the exec root. file is relative to the spec's directory, of which the
// root is the worker's copy; it may not leave the root, through ".." or a symbolic link.
func (m *Migrations) readSQL(file string) ([]byte, error) {
	if m.Exec == nil || m.Exec.Root == "" || !filepath.IsAbs(m.Exec.Root) {
		return nil, fmt.Errorf("the worker has no absolute exec root (--exec-root) to read %q from", file)
	}
	if file == "" || filepath.IsAbs(file) {
		return nil, fmt.Errorf("%q must be a path relative to the spec's directory", file)
	}
	root, err := filepath.EvalSymlinks(filepath.Clean(m.Exec.Root))
	if err != nil {
		return nil, fmt.Errorf("exec root: %w", err)
	}
	path := filepath.Join(root, filepath.FromSlash(file))
	if !within(root, path) {
		return nil, fmt.Errorf("%q leaves the worker's exec root", file)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, errors.Unwrap(err))
	}
	if !within(root, real) {
		return nil, fmt.Errorf("%q leaves the worker's exec root through a symbolic link", file)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxSQLFile {
		return nil, fmt.Errorf("%s is not a regular file of at most %d bytes", file, maxSQLFile)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return data, nil
}

// BackfillRequest is a backfill to run, or to resume.
type BackfillRequest struct {
	Env       string         `json:"env"`
	Migration spec.Migration `json:"migration"`
	// From is where to start when this activity has no heartbeat of its own yet: the progress of an earlier
	// activity that was paused or resized. Zero starts at the lowest key.
	From BackfillProgress `json:"from,omitzero"`
	// BatchTarget overrides the spec's batch duration (a resize); zero keeps it.
	BatchTarget time.Duration `json:"batchTarget,omitempty"`
	// Service keys the backfill's record, as MigrationRequest.Service does.
	Service string `json:"service,omitempty"`
}

// BackfillProgress is where a backfill stands: its heartbeat details, its result, and the details of its
// cancellation (a pause).
type BackfillProgress struct {
	// Cursor is the highest key done; resuming after it skips nothing still to do.
	Cursor string `json:"cursor,omitempty"`
	// Rows updated so far, of Total estimated.
	Rows  int64 `json:"rows"`
	Total int64 `json:"total"`
	// RowsPerSecond is the rate of the current run; ETA the time left at that rate.
	RowsPerSecond float64       `json:"rowsPerSecond,omitempty"`
	ETA           time.Duration `json:"eta,omitempty"`
	BatchSize     int           `json:"batchSize,omitempty"`
	// Done is set once no row is left; Skipped when an earlier release had finished it already.
	Done    bool `json:"done,omitempty"`
	Skipped bool `json:"skipped,omitempty"`
}

// Backfill fills the migration's new shape in keyset batches (see postgres.Backfill), heartbeating its
// progress after every batch. It resumes from its own last heartbeat when Temporal retries it after a crash,
// else from in.From; a backfill already recorded as finished in ferry.migrations is skipped. It records in
// ferry.migrations the key its batches reached, at most every backfillRecordEvery and when it stops, and
// records the backfill finished once no key is left: the Contract workflow reads that record. It is idempotent
// because the backfill's WHERE excludes filled rows: a resume from an older cursor updates nothing twice.
// Cancelled (a pause), it returns a temporal.CanceledError whose details are the BackfillProgress to resume
// from. A lock timeout is a retryable ErrTypeLockTimeout.
func (m *Migrations) Backfill(ctx context.Context, in BackfillRequest) (BackfillProgress, error) {
	b := in.Migration.Backfill
	if b == nil {
		return BackfillProgress{}, invalidSpec(fmt.Sprintf("migration %s has no backfill", in.Migration.Name), nil)
	}
	from := in.From
	if activity.HasHeartbeatDetails(ctx) {
		var hb BackfillProgress
		if err := activity.GetHeartbeatDetails(ctx, &hb); err == nil {
			from = hb
		}
	}
	conn, err := m.connect(ctx, in.Env, in.Migration.Database)
	if err != nil {
		return from, redactError(m.Redact, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	recs, err := postgres.Records(ctx, conn, in.Migration.Name)
	if err != nil {
		return from, redactError(m.Redact, err)
	}
	if r, ok := postgres.RecordOf(recs, in.Service, postgres.PhaseBackfill); ok && !r.AppliedAt.IsZero() {
		return BackfillProgress{Done: true, Skipped: true}, nil
	}
	target := in.BatchTarget
	if target <= 0 {
		target = b.BatchTarget.D()
	}
	last := from
	activity.RecordHeartbeat(ctx, last)
	var recorded time.Time
	p, err := postgres.Backfill(ctx, conn, postgres.BackfillRequest{
		Spec: b.MigrateBackfill(), Cursor: from.Cursor, Done: from.Rows, TargetBatch: target,
	}, func(p postgres.Progress) error {
		last = progressOf(p)
		activity.RecordHeartbeat(ctx, last)
		if time.Since(recorded) < backfillRecordEvery {
			return nil
		}
		recorded = time.Now()
		return postgres.RecordBackfillProgress(ctx, conn, in.Service, in.Migration.Name, p.Cursor)
	})
	if err != nil {
		m.recordStop(ctx, conn, in, last)
		if ctx.Err() != nil {
			return last, temporal.NewCanceledError(last)
		}
		return last, redactError(m.Redact, classifyDB(err))
	}
	if err := postgres.MarkBackfilled(ctx, conn, in.Service, in.Migration.Name, p.Cursor); err != nil {
		return last, redactError(m.Redact, err)
	}
	out := progressOf(p)
	out.Done, out.ETA = true, 0
	return out, nil
}

// backfillRecordEvery bounds how often a backfill writes its cursor to ferry.migrations: a batch aims at 200 ms,
// and its record costs a write of its own.
const backfillRecordEvery = time.Second

// recordStop records where a backfill that stopped (an error, a pause, an abort) got to, when it did any batch.
// Best effort, on a context of its own and, when the stop closed conn (a cancelled query closes its
// connection), on a new connection: where the database cannot be reached, the last periodic record stands.
func (m *Migrations) recordStop(ctx context.Context, conn *pgx.Conn, in BackfillRequest, last BackfillProgress) {
	if last.Cursor == "" {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if conn.IsClosed() {
		var err error
		if conn, err = m.connect(rctx, in.Env, in.Migration.Database); err != nil {
			return
		}
		defer conn.Close(rctx)
	}
	_ = postgres.RecordBackfillProgress(rctx, conn, in.Service, in.Migration.Name, last.Cursor)
}

func progressOf(p postgres.Progress) BackfillProgress {
	out := BackfillProgress{Cursor: p.Cursor, Rows: p.Rows, Total: p.Total, RowsPerSecond: p.RowsPerSecond, BatchSize: p.BatchSize}
	if p.RowsPerSecond > 0 && p.Total > p.Rows {
		out.ETA = time.Duration(float64(p.Total-p.Rows) / p.RowsPerSecond * float64(time.Second)).Round(time.Second)
	}
	return out
}

// RecordsRequest names a database of an environment.
type RecordsRequest struct {
	Env      string `json:"env"`
	Database string `json:"database"`
	// Migration limits the answer to one migration; empty means all.
	Migration string `json:"migration,omitempty"`
	// Service is the service asking (Backfilled): its own records count, and those written before records
	// named their service.
	Service string `json:"service,omitempty"`
}

// Records reads ferry.migrations of a database: which phases of which migrations are applied. Read-only.
func (m *Migrations) Records(ctx context.Context, in RecordsRequest) ([]postgres.Record, error) {
	conn, err := m.connect(ctx, in.Env, in.Database)
	if err != nil {
		return nil, redactError(m.Redact, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	recs, err := postgres.Records(ctx, conn, in.Migration)
	return recs, redactError(m.Redact, err)
}

// BackfillRecord is what ferry.migrations of one environment's database says of a migration's backfill.
type BackfillRecord struct {
	// Done is set once the backfill was recorded finished, at DoneAt.
	Done   bool      `json:"done"`
	DoneAt time.Time `json:"doneAt,omitzero"`
	// Cursor is the key the last recorded batch ended at: where a backfill that did not finish stopped. Empty
	// when no batch was recorded.
	Cursor string `json:"cursor,omitempty"`
}

// Backfilled reads from ferry.migrations whether the backfill of in.Service's migration in.Migration finished
// in the database in.Database of in.Env, and if not, where it stopped. The Contract workflow asks it before it
// runs: the database, not a workflow's memory, is the record of what was copied. Read-only, so idempotent;
// a failed connection is retryable.
func (m *Migrations) Backfilled(ctx context.Context, in RecordsRequest) (BackfillRecord, error) {
	if in.Migration == "" {
		return BackfillRecord{}, invalidSpec("backfilled needs a migration", nil)
	}
	recs, err := m.Records(ctx, in)
	if err != nil {
		return BackfillRecord{}, err
	}
	r, ok := postgres.RecordOf(recs, in.Service, postgres.PhaseBackfill)
	if !ok {
		return BackfillRecord{}, nil
	}
	return BackfillRecord{Done: !r.AppliedAt.IsZero(), DoneAt: r.AppliedAt, Cursor: r.Cursor}, nil
}
