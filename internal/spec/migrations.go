package spec

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ferryhq/ferry/internal/migrate"
)

// Migration is one expand-contract migration on PostgreSQL (the `migrations:` list of ferry.yaml). Its SQL files
// are paths relative to the spec's directory; a worker reads them from its own copy of that directory (its exec
// root). Database is a name that the worker's configuration maps to a connection: a spec never holds a DSN.
type Migration struct {
	// Name identifies the migration within the service: lower-case letters, digits and dashes.
	Name string `yaml:"name" json:"name"`
	// Database names the database, as the worker's `databases:` section knows it.
	Database string `yaml:"database" json:"database"`
	// Expand is the SQL file (*_expand.sql) that runs before a version that requires the migration deploys.
	Expand string `yaml:"expand" json:"expand"`
	// Backfill, if set, fills the new shape once a version that requires the migration serves 100 %.
	Backfill *Backfill `yaml:"backfill,omitempty" json:"backfill,omitempty"`
	// Contract, if set, removes the old shape once no version that reads it is left.
	Contract *Contract `yaml:"contract,omitempty" json:"contract,omitempty"`
}

// Backfill is an UPDATE run in keyset batches: UPDATE Table SET Set WHERE Where, over ranges of Key.
type Backfill struct {
	Table string `yaml:"table" json:"table"`
	// Key is the column whose ranges make the batches. Default: the table's one-column primary key.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Set is the SET list, such as "email_verified = (legacy_flag = 'Y')".
	Set string `yaml:"set" json:"set"`
	// Where selects the rows still to fill and must become false for a filled row, so that a resumed backfill
	// skips what it did. Empty means every row.
	Where string `yaml:"where,omitempty" json:"where,omitempty"`
	// BatchTarget is the duration one batch aims for; the batch size adapts to it. Default 200ms.
	BatchTarget Duration `yaml:"batchTarget,omitempty" json:"batchTarget,omitempty"`
}

// Contract is the destructive half of a migration.
type Contract struct {
	// SQL is the contract file (*_contract.sql).
	SQL string `yaml:"sql" json:"sql"`
	// MinAge is how long after the expand the contract may run at the earliest.
	MinAge Duration `yaml:"minAge,omitempty" json:"minAge,omitempty"`
	// Approval, if set, waits for `ferry migrate approve-contract` by Quorum of Approvers (anyone, if none are
	// listed).
	Approval *Approval `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// Migration returns the migration with the given name.
func (s *Spec) Migration(name string) (*Migration, bool) {
	for i := range s.Migrations {
		if s.Migrations[i].Name == name {
			return &s.Migrations[i], true
		}
	}
	return nil, false
}

// Required returns the migrations this version requires, in the order of the migrations list.
func (s *Spec) Required() []Migration {
	var out []Migration
	for _, m := range s.Migrations {
		if slices.Contains(s.Requires, m.Name) {
			out = append(out, m)
		}
	}
	return out
}

// MigrateBackfill is the backfill as internal/migrate and internal/postgres take it.
func (b Backfill) MigrateBackfill() migrate.Backfill {
	return migrate.Backfill{Table: b.Table, Key: b.Key, Set: b.Set, Where: b.Where}
}

var databaseRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// problemRE splits a problem of migrate.Validate, "PATH: message".
var problemRE = regexp.MustCompile(`^(migrations\[\d+\][.a-zA-Z]*): (.*)$`)

// migrations checks the migrations list with internal/migrate's rules, plus what only a spec has: the database
// name, file paths that stay inside the spec's directory, and requires/completes naming listed migrations.
func (v *validator) migrations(s *Spec) {
	ms := make([]migrate.Migration, len(s.Migrations))
	for i, m := range s.Migrations {
		ms[i] = migrate.Migration{Name: m.Name, Expand: m.Expand}
		if b := m.Backfill; b != nil {
			mb := b.MigrateBackfill()
			ms[i].Backfill = &mb
		}
		if c := m.Contract; c != nil {
			ms[i].Contract = &migrate.Contract{SQL: c.SQL, MinAge: migrate.Duration(c.MinAge), Approval: c.Approval != nil}
		}
	}
	for _, p := range migrate.Validate(ms) {
		if m := problemRE.FindStringSubmatch(p); m != nil {
			v.add(m[1], "%s", m[2])
		} else {
			v.add("migrations", "%s", p)
		}
	}
	for i, m := range s.Migrations {
		at := index("migrations", i)
		switch {
		case m.Database == "":
			v.add(at+".database", "required: the name of the database in the worker's databases section")
		case strings.ContainsAny(m.Database, ":@=/ "):
			// Never echo it: a connection string holds a password.
			v.add(at+".database", "must be a database name, not a connection string: the worker's databases section maps names to connections")
		case !databaseRE.MatchString(m.Database):
			v.add(at+".database", "must be a name (lower-case letters, digits, '-' and '_'), got %s; the worker maps it to a connection", QuoteValue(m.Database))
		}
		v.sqlPath(at+".expand", m.Expand)
		if c := m.Contract; c != nil {
			v.sqlPath(at+".contract.sql", c.SQL)
			if a := c.Approval; a != nil {
				v.approval(a, at+".contract.approval")
			}
		}
		if b := m.Backfill; b != nil {
			v.nonNegative(at+".backfill.batchTarget", b.BatchTarget)
		}
	}
	refs := func(field string, names []string) {
		seen := map[string]bool{}
		for i, n := range names {
			p := index(field, i)
			_, ok := s.Migration(n)
			switch {
			case seen[n]:
				v.add(p, "%s is listed twice", QuoteValue(n))
			case !ok:
				known := make([]string, len(s.Migrations))
				for j, m := range s.Migrations {
					known[j] = m.Name
				}
				v.add(p, "no migration named %s in migrations%s", QuoteValue(n), didYouMean(n, known))
			}
			seen[n] = true
		}
	}
	refs("requires", s.Requires)
	refs("completes", s.Completes)
	for i, n := range s.Completes {
		if m, ok := s.Migration(n); ok && m.Contract == nil {
			v.add(index("completes", i), "migration %s has no contract: completing it would gate nothing", QuoteValue(n))
		}
	}
}

// sqlPath checks that a SQL file path is relative and stays inside the spec's directory: the worker reads it
// under its own root and refuses anything else.
func (v *validator) sqlPath(p, file string) {
	if file == "" {
		return // migrate.Validate reports the missing name
	}
	clean := path.Clean(filepath.ToSlash(file))
	if filepath.IsAbs(file) || strings.HasPrefix(file, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		v.add(p, "%s must be a path inside the spec's directory, relative to it", QuoteValue(file))
	}
}

// lintMigrations lints the SQL files of s's migrations that are readable under dir, the spec's directory:
// expand files against the expand rules, contract files against the contract rules. Each error finding is a
// problem at the file's field, with the file's line and the rule. A file that cannot be read is left to the
// worker, which reads its own copy; a build without PostgreSQL's parser lints nothing.
func lintMigrations(s *Spec, dir string, src *source) []Problem {
	v := &validator{src: src, seen: map[string]bool{}}
	for i, m := range s.Migrations {
		at := index("migrations", i)
		v.lintFile(dir, at+".expand", m.Expand, migrate.PhaseExpand)
		if c := m.Contract; c != nil {
			v.lintFile(dir, at+".contract.sql", c.SQL, migrate.PhaseContract)
		}
	}
	return v.problems
}

func (v *validator) lintFile(dir, p, file string, phase migrate.Phase) {
	if file == "" || filepath.IsAbs(file) {
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		return
	}
	res, err := migrate.Lint(file, string(data), phase)
	if errors.Is(err, migrate.ErrNoParser) || err != nil {
		return
	}
	for _, f := range res.Findings {
		if f.Severity == migrate.SeverityError {
			v.add(p, "%s:%d:%d: %s: %s (%s)", file, f.Line, f.Col, f.Rule, f.Message, f.Hint)
		}
	}
}
