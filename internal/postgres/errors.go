package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLStateLockNotAvailable is the SQLSTATE of a statement cancelled by lock_timeout (lock_not_available).
const SQLStateLockNotAvailable = "55P03"

// LockTimeoutError is a statement that waited longer than lock_timeout for a lock. Nothing of the statement's
// transaction was kept, and the caller may retry later: the lock holder is usually a long query of the running
// version. errors.As on Err reaches the *pgconn.PgError with Code SQLStateLockNotAvailable.
type LockTimeoutError struct {
	// Statement is the SQL that waited.
	Statement string
	Err       error
}

func (e *LockTimeoutError) Error() string {
	return fmt.Sprintf("lock timeout (SQLSTATE %s) in %q: %v", SQLStateLockNotAvailable, short(e.Statement), e.Err)
}

func (e *LockTimeoutError) Unwrap() error { return e.Err }

// Retryable reports true: a lock timeout is transient.
func (e *LockTimeoutError) Retryable() bool { return true }

// ChecksumMismatchError is an expand or contract file whose SHA-256 differs from the one recorded when the migration was
// applied: the file changed after it ran. It is not retryable; the fix is a new migration, or restoring the file.
type ChecksumMismatchError struct {
	Name     string
	Phase    string
	Recorded string
	File     string
}

func (e *ChecksumMismatchError) Error() string {
	phase := e.Phase
	if phase == "" {
		phase = PhaseExpand
	}
	return fmt.Sprintf("migration %s: the %s file has checksum sha256:%s, but sha256:%s was recorded when it was applied",
		e.Name, phase, e.File, e.Recorded)
}

// RefusedStatementError is a statement of a migration file that can never succeed as Ferry runs the file
// (see migrate.ExecutionOf): transaction control, or a statement PostgreSQL refuses inside a transaction
// block. It is not retryable; the lint's rule exec/transaction names the same statements.
type RefusedStatementError struct {
	Statement string
	Why       string
}

func (e *RefusedStatementError) Error() string {
	return fmt.Sprintf("%q is refused: %s", short(e.Statement), e.Why)
}

// classify turns a lock timeout into a *LockTimeoutError and leaves other errors as they are.
func classify(stmt string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == SQLStateLockNotAvailable {
		return &LockTimeoutError{Statement: stmt, Err: err}
	}
	return err
}

// short cuts a statement for an error message.
func short(s string) string {
	const max = 80
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
