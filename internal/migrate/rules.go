package migrate

import "time"

// Phase is the half of an expand-contract migration a SQL file belongs to. Expand runs before the new version
// deploys, while the old version still serves, so it must keep the old version working. Contract runs once no
// old version is left, and may remove what only the old version used.
type Phase string

// The phases of a migration.
const (
	PhaseExpand   Phase = "expand"
	PhaseContract Phase = "contract"
)

// Severity says whether a finding fails the lint.
type Severity string

// Severities of findings. An error fails the lint. A note is information: that a contract step cannot be
// undone, for one.
const (
	SeverityError Severity = "error"
	SeverityNote  Severity = "note"
)

// Rule is one check of the lint. Its ID is stable: scripts and suppressions may name it.
type Rule struct {
	ID       string
	Severity Severity
	// Phases are the phases the rule applies to.
	Phases []Phase
	// Summary says what the rule finds, in a few words.
	Summary string
	// Hint says how to write the statement so that the rule is satisfied.
	Hint string
}

// Rule IDs. Rules under expand/ keep the old version working while it still serves; rules under data/ keep
// rows and objects that a running version needs; rules under rewrite/ and lock/ keep a statement from holding
// a lock that stalls the service, in either phase; rules under exec/ reject what Ferry's executor cannot run.
const (
	RuleSyntax             = "syntax"
	RuleTransaction        = "exec/transaction"
	RuleDropColumn         = "expand/drop-column"
	RuleDropTable          = "expand/drop-table"
	RuleDrop               = "expand/drop"
	RuleRename             = "expand/rename"
	RuleAlterColumnType    = "expand/alter-column-type"
	RuleAddColumnNotNull   = "expand/add-column-not-null"
	RuleTightenConstraint  = "expand/tighten-constraint"
	RuleTruncate           = "data/truncate"
	RuleDropCascade        = "data/drop-cascade"
	RuleSerial             = "rewrite/serial"
	RuleIdentity           = "rewrite/identity"
	RuleVolatileDefault    = "rewrite/volatile-default"
	RuleStoredGenerated    = "rewrite/stored-generated"
	RuleRewriteColumnType  = "rewrite/alter-column-type"
	RuleRewriteTable       = "rewrite/table"
	RuleLockTimeout        = "lock/timeout"
	RuleLockTimeoutCap     = "lock/timeout-cap"
	RuleStatementTimeout   = "lock/statement-timeout"
	RuleSetNotNull         = "lock/set-not-null"
	RuleConstraintNotValid = "lock/constraint-not-valid"
	RuleUniqueUsingIndex   = "lock/unique-using-index"
	RuleIndexConcurrently  = "lock/index-concurrently"
	RuleIrreversible       = "contract/irreversible"
)

// MaxLockTimeout is the longest lock_timeout the lint accepts (rule lock/timeout-cap). A statement waiting for
// a lock makes every query that needs a conflicting lock on the same table queue behind it, so the wait is an
// outage of that table for as long as it lasts; the executor retries a statement that timed out.
const MaxLockTimeout = 10 * time.Second

// MaxStatementTimeout is the longest statement_timeout the lint accepts in force for a statement whose run time
// grows with the data (rule lock/statement-timeout): it holds its locks, and the writes that wait for them,
// until it ends.
const MaxStatementTimeout = time.Minute

var (
	both         = []Phase{PhaseExpand, PhaseContract}
	expandOnly   = []Phase{PhaseExpand}
	contractOnly = []Phase{PhaseContract}
)

// rules is the registry, in the order help lists them. Every rule has a passing and a failing example under
// testdata/migrations/lint/<ID>/, and a test keeps it so.
var rules = []Rule{
	{RuleSyntax, SeverityError, both,
		"the file does not parse as PostgreSQL",
		"fix the statement at the position shown; the lint uses the parser of PostgreSQL 17"},
	{RuleTransaction, SeverityError, both,
		"BEGIN, COMMIT and other transaction control, or a statement PostgreSQL refuses in a transaction block (VACUUM, REINDEX CONCURRENTLY): Ferry's executor cannot run it",
		"remove BEGIN and COMMIT: Ferry runs the statements between CREATE/DROP INDEX CONCURRENTLY in one transaction; run VACUUM, REINDEX CONCURRENTLY and the like by hand, outside the migration"},
	{RuleDropColumn, SeverityError, expandOnly,
		"DROP COLUMN breaks the version that still reads the column",
		"drop the column in the contract migration, once no running version uses it"},
	{RuleDropTable, SeverityError, expandOnly,
		"DROP TABLE breaks the version that still uses the table",
		"drop the table in the contract migration, once no running version uses it"},
	{RuleDrop, SeverityError, expandOnly,
		"dropping a view, function, type, schema, sequence, trigger, index, constraint, default or other object breaks the version that uses it",
		"drop it in the contract migration, once no running version uses it"},
	{RuleRename, SeverityError, expandOnly,
		"renaming a table, column, view, function, type, schema, constraint or enum value, or moving it with SET SCHEMA, breaks the version that uses the old name",
		"add the new name beside the old one (a new column with a backfill, a view, a new enum value, a second function), and remove the old name in contract"},
	{RuleAlterColumnType, SeverityError, expandOnly,
		"changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock and can break the version that reads it",
		"add a column of the new type, backfill it, and drop the old column in contract"},
	{RuleAddColumnNotNull, SeverityError, expandOnly,
		"a NOT NULL column without a default makes the old version's inserts fail",
		"add the column nullable or with a DEFAULT; set NOT NULL in contract after the backfill"},
	{RuleTightenConstraint, SeverityError, expandOnly,
		"a constraint or unique index on what the old version writes rejects some of its writes, even when added NOT VALID",
		"add the constraint in the contract migration, once no old version writes; in expand, constrain only columns this file adds, without a default"},
	{RuleTruncate, SeverityError, both,
		"TRUNCATE deletes every row of a table that a running version still uses, under an ACCESS EXCLUSIVE lock",
		"to retire a table, DROP it in contract once no version uses it; to delete rows, DELETE them in small batches by key"},
	{RuleDropCascade, SeverityError, both,
		"CASCADE also drops the objects that depend on the dropped one (views, foreign keys, defaults), which the lint cannot see and a running version may use",
		"drop each dependent object by name first, then drop without CASCADE"},
	{RuleSerial, SeverityError, both,
		"adding a serial column to an existing table fills every row from its sequence: PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock",
		"add a nullable bigint column, create a sequence and SET DEFAULT nextval(...) (new rows only), backfill the old rows, then make it NOT NULL through a validated CHECK"},
	{RuleIdentity, SeverityError, both,
		"adding an identity column to an existing table fills every row: PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock",
		"add a nullable bigint column, backfill it, make it NOT NULL through a validated CHECK, then ALTER COLUMN ... ADD GENERATED BY DEFAULT AS IDENTITY (no rewrite) and setval its sequence past the largest value"},
	{RuleVolatileDefault, SeverityError, both,
		"adding a column whose DEFAULT is volatile (gen_random_uuid(), clock_timestamp()) or not known to be stable rewrites the table under an ACCESS EXCLUSIVE lock; now() does not",
		"add the column without that default, then ALTER COLUMN ... SET DEFAULT, which applies to new rows only, and fill the old rows with the backfill"},
	{RuleStoredGenerated, SeverityError, both,
		"adding a STORED generated column computes it for every row: PostgreSQL rewrites the table under an ACCESS EXCLUSIVE lock",
		"add a plain nullable column, keep it filled for new writes with a trigger, and fill the old rows with the backfill"},
	{RuleRewriteColumnType, SeverityError, contractOnly,
		"changing a column's type rewrites the table and its indexes under an ACCESS EXCLUSIVE lock (in expand, expand/alter-column-type reports it)",
		"add a column of the new type in an expand, backfill it, move the code to it, and drop the old column in contract"},
	{RuleRewriteTable, SeverityError, both,
		"CLUSTER, SET TABLESPACE, SET LOGGED or UNLOGGED, SET ACCESS METHOD and SET EXPRESSION rewrite the table under an ACCESS EXCLUSIVE lock",
		"do it outside the migration, in a maintenance window or with an online rewrite tool"},
	{RuleLockTimeout, SeverityError, both,
		"a statement that takes a lock runs before the file sets lock_timeout",
		"start the file with SET lock_timeout = '5s' (any non-zero value up to 10s), so that a blocked statement fails instead of stalling every query behind it"},
	{RuleLockTimeoutCap, SeverityError, both,
		"SET lock_timeout above 10s lets a blocked statement stall every query queued behind it for that long",
		"SET lock_timeout to at most 10s; a statement that times out fails with a retryable error, and the migration runs again"},
	{RuleStatementTimeout, SeverityError, both,
		"UPDATE, DELETE, MERGE, INSERT ... SELECT, REFRESH MATERIALIZED VIEW, DO or CALL holds its locks as long as the data makes it run, and no statement_timeout of at most 60s is set",
		"SET statement_timeout = '30s' (any non-zero value up to 60s) before it, with SET, not SET LOCAL; move large data changes to the migration's backfill"},
	{RuleSetNotNull, SeverityError, both,
		"SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
		"first ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT; PostgreSQL then sets NOT NULL without a scan"},
	{RuleConstraintNotValid, SeverityError, both,
		"adding a CHECK or FOREIGN KEY constraint (or a column with one) checks every row while holding a lock that blocks writes",
		"add the column first, then the constraint NOT VALID, then VALIDATE CONSTRAINT in a later statement, which does not block writes"},
	{RuleUniqueUsingIndex, SeverityError, both,
		"adding a UNIQUE or PRIMARY KEY constraint builds its index under an ACCESS EXCLUSIVE lock",
		"CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX"},
	{RuleIndexConcurrently, SeverityError, both,
		"CREATE INDEX, DROP INDEX or REINDEX without CONCURRENTLY blocks writes to the table while it runs",
		"use CREATE INDEX CONCURRENTLY or DROP INDEX CONCURRENTLY, which Ferry runs outside a transaction"},
	{RuleIrreversible, SeverityNote, contractOnly,
		"the statement destroys data or names that older versions use: the migration cannot be undone",
		"once this runs, rollback to a version older than the expand is refused"},
}

// Rules returns every rule of the lint, in a stable order. The caller may modify the returned slice.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	copy(out, rules)
	return out
}

// ruleByID is the registry by ID.
var ruleByID = func() map[string]Rule {
	m := make(map[string]Rule, len(rules))
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}()

// appliesTo reports whether the rule checks files of phase p.
func (r Rule) appliesTo(p Phase) bool {
	for _, q := range r.Phases {
		if q == p {
			return true
		}
	}
	return false
}
