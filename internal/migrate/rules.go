package migrate

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

// Rule IDs. Rules under expand/ keep the old version working; rules under lock/ keep a statement from holding a
// lock that stalls the service, in either phase.
const (
	RuleSyntax             = "syntax"
	RuleDropColumn         = "expand/drop-column"
	RuleDropTable          = "expand/drop-table"
	RuleRename             = "expand/rename"
	RuleAlterColumnType    = "expand/alter-column-type"
	RuleAddColumnNotNull   = "expand/add-column-not-null"
	RuleLockTimeout        = "lock/timeout"
	RuleSetNotNull         = "lock/set-not-null"
	RuleConstraintNotValid = "lock/constraint-not-valid"
	RuleUniqueUsingIndex   = "lock/unique-using-index"
	RuleIndexConcurrently  = "lock/index-concurrently"
	RuleIrreversible       = "contract/irreversible"
)

var both = []Phase{PhaseExpand, PhaseContract}

// rules is the registry, in the order help lists them. Every rule has a passing and a failing example under
// testdata/migrations/lint/<ID>/, and a test keeps it so.
var rules = []Rule{
	{RuleSyntax, SeverityError, both,
		"the file does not parse as PostgreSQL",
		"fix the statement at the position shown; the lint uses the parser of PostgreSQL 17"},
	{RuleDropColumn, SeverityError, []Phase{PhaseExpand},
		"DROP COLUMN breaks the version that still reads the column",
		"drop the column in the contract migration, once no running version uses it"},
	{RuleDropTable, SeverityError, []Phase{PhaseExpand},
		"DROP TABLE breaks the version that still uses the table",
		"drop the table in the contract migration, once no running version uses it"},
	{RuleRename, SeverityError, []Phase{PhaseExpand},
		"renaming a table, view or column breaks the version that uses the old name",
		"add the new name beside the old one (a new column with a backfill, or a view), and remove the old name in contract"},
	{RuleAlterColumnType, SeverityError, []Phase{PhaseExpand},
		"changing a column's type rewrites the table and can break the version that reads it",
		"add a column of the new type, backfill it, and drop the old column in contract"},
	{RuleAddColumnNotNull, SeverityError, []Phase{PhaseExpand},
		"a NOT NULL column without a default makes the old version's inserts fail",
		"add the column nullable or with a DEFAULT; set NOT NULL in contract after the backfill"},
	{RuleLockTimeout, SeverityError, both,
		"a statement that takes a lock runs before the file sets lock_timeout",
		"start the file with SET lock_timeout = '5s' (any non-zero value), so that a blocked statement fails instead of stalling every query behind it"},
	{RuleSetNotNull, SeverityError, both,
		"SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock",
		"first ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT; PostgreSQL then sets NOT NULL without a scan"},
	{RuleConstraintNotValid, SeverityError, both,
		"adding a CHECK or FOREIGN KEY constraint checks every row while holding a lock that blocks writes",
		"add it NOT VALID, then VALIDATE CONSTRAINT in a later statement, which does not block writes"},
	{RuleUniqueUsingIndex, SeverityError, both,
		"adding a UNIQUE or PRIMARY KEY constraint builds its index under an ACCESS EXCLUSIVE lock",
		"CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... UNIQUE USING INDEX"},
	{RuleIndexConcurrently, SeverityError, both,
		"CREATE INDEX or DROP INDEX without CONCURRENTLY blocks writes to the table while it runs",
		"use CREATE INDEX CONCURRENTLY or DROP INDEX CONCURRENTLY, outside a transaction block"},
	{RuleIrreversible, SeverityNote, []Phase{PhaseContract},
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
