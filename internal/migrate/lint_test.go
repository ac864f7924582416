package migrate

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// corpus holds a directory per rule ID with good_<phase>.sql and bad_<phase>.sql examples. A line that should
// draw findings carries "-- want: RULE[, RULE...]"; every other line should draw none. A good example draws no
// error; a bad example draws errors of its rule only (and notes).
const corpus = "../../testdata/migrations/lint"

var wantComment = regexp.MustCompile(`--\s*want:\s*(.+)$`)

// wants reads the expected findings of a corpus file as "LINE RULE" strings.
func wants(t *testing.T, sql string) []string {
	t.Helper()
	var out []string
	for i, line := range strings.Split(sql, "\n") {
		m := wantComment.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, rule := range strings.Split(m[1], ",") {
			out = append(out, fmt.Sprintf("%d %s", i+1, strings.TrimSpace(rule)))
		}
	}
	return out
}

func TestCorpus(t *testing.T) {
	for _, rule := range Rules() {
		t.Run(rule.ID, func(t *testing.T) {
			dir := filepath.Join(corpus, filepath.FromSlash(rule.ID))
			files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
			if err != nil {
				t.Fatal(err)
			}
			var good, bad int
			for _, path := range files {
				base := filepath.Base(path)
				switch {
				case strings.HasPrefix(base, "good_"):
					good++
				case strings.HasPrefix(base, "bad_"):
					bad++
				default:
					t.Errorf("%s: want a name starting good_ or bad_", path)
				}
				phase, ok := PhaseFromName(base)
				if !ok {
					t.Fatalf("%s: name does not end in _expand.sql or _contract.sql", path)
				}
				if !rule.appliesTo(phase) {
					t.Errorf("%s: rule %s does not apply to %s files", path, rule.ID, phase)
				}
				sql, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Lint(base, string(sql), phase)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				var got []string
				for _, f := range res.Findings {
					got = append(got, fmt.Sprintf("%d %s", f.Line, f.Rule))
				}
				want := wants(t, string(sql))
				if !slices.Equal(got, want) {
					t.Errorf("%s: got findings %q, want %q\n%v", path, got, want, res.Findings)
				}
				if strings.HasPrefix(base, "bad_") && !slices.ContainsFunc(want, func(w string) bool { return strings.HasSuffix(w, " "+rule.ID) }) {
					t.Errorf("%s: a bad example must draw a finding of %s", path, rule.ID)
				}
				for _, f := range res.Findings {
					if strings.HasPrefix(base, "bad_") && f.Severity == SeverityError && f.Rule != rule.ID {
						t.Errorf("%s:%d: a bad example of %s must be rejected by that rule only, got %s", path, f.Line, rule.ID, f.Rule)
					}
				}
				if strings.HasPrefix(base, "good_") && res.Errors() != 0 {
					t.Errorf("%s: a good example must pass, got %d errors", path, res.Errors())
				}
			}
			if good == 0 || bad == 0 {
				t.Errorf("%s: got %d good and %d bad examples, want at least one of each", dir, good, bad)
			}
		})
	}
}

// TestCorpusHasNoStrayRules fails for a corpus directory that names no rule, such as one left behind by a
// renamed rule.
func TestCorpusHasNoStrayRules(t *testing.T) {
	err := filepath.WalkDir(corpus, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		id := filepath.ToSlash(filepath.Dir(strings.TrimPrefix(path, corpus+string(filepath.Separator))))
		if _, ok := ruleByID[id]; !ok {
			t.Errorf("%s: no rule has the ID %q", path, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFindingPosition(t *testing.T) {
	// Comments and white space before a statement are skipped; columns count characters.
	sql := "-- réveil\n/* a /* nested */ comment */\n\tSET lock_timeout = 0; /* é */ CREATE INDEX i ON t (a);"
	res, err := Lint("x_expand.sql", sql, PhaseExpand)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"x_expand.sql:3:32: lock/timeout: \"CREATE INDEX i ON t (a)\" takes locks, and lock_timeout is not set before it (" + ruleByID[RuleLockTimeout].Hint + ")",
		"x_expand.sql:3:32: lock/index-concurrently: creates index i on t without CONCURRENTLY (" + ruleByID[RuleIndexConcurrently].Hint + ")",
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSyntaxErrorPosition(t *testing.T) {
	// PostgreSQL reports the error position in characters; multi-byte text before it must not shift it.
	sql := "SET lock_timeout = '5s';\nCOMMENT ON TABLE users IS 'čšž';\nALTER TABLE users ADD COLUMN é text, DROP;"
	res, err := Lint("x_expand.sql", sql, PhaseExpand)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Errors() != 1 {
		t.Fatalf("got %v, want one syntax error", res.Findings)
	}
	f := res.Findings[0]
	if f.Rule != RuleSyntax || f.Line != 3 || f.Col != 42 || f.Message != `syntax error at or near ";"` {
		t.Errorf("got %s, want a syntax error at 3:42 near \";\"", f)
	}
}

func TestContractIsNotAnError(t *testing.T) {
	sql := "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN legacy_flag;\n"
	res, err := Lint("003_contract.sql", sql, PhaseContract)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Irreversible || res.Errors() != 0 || len(res.Findings) != 1 || res.Findings[0].Severity != SeverityNote {
		t.Errorf("got %+v, want one note and irreversible", res)
	}
	res, err = Lint("003_expand.sql", sql, PhaseExpand)
	if err != nil {
		t.Fatal(err)
	}
	if res.Irreversible || res.Errors() != 1 {
		t.Errorf("expand: got %+v, want one error and not irreversible", res)
	}
}

func TestEmptyFile(t *testing.T) {
	for _, sql := range []string{"", "-- nothing yet\n"} {
		res, err := Lint("x_expand.sql", sql, PhaseExpand)
		if err != nil || len(res.Findings) != 0 || res.Findings == nil {
			t.Errorf("%q: got %+v, %v, want an empty finding list", sql, res, err)
		}
	}
}

func TestPhase(t *testing.T) {
	tests := []struct {
		name string
		want Phase
		ok   bool
	}{
		{"migrations/003_expand.sql", PhaseExpand, true},
		{"003_add_email_CONTRACT.sql", PhaseContract, true},
		{"003_expand.sql.bak", "", false},
		{"expand.sql", "", false},
		{"003.sql", "", false},
	}
	for _, tt := range tests {
		if got, ok := PhaseFromName(tt.name); got != tt.want || ok != tt.ok {
			t.Errorf("PhaseFromName(%q): got %q %v, want %q %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if _, err := Lint("x.sql", "SELECT 1", "both"); err == nil || !strings.Contains(err.Error(), `unknown phase "both"`) {
		t.Errorf("unknown phase: got %v, want an error", err)
	}
	if _, err := ParsePhase("contract"); err != nil {
		t.Errorf("ParsePhase(contract): got %v", err)
	}
}

func TestLockTimeoutValues(t *testing.T) {
	tests := []struct {
		set  string
		want bool // whether the timeout is on afterwards
	}{
		{"SET lock_timeout = '5s'", true},
		{"SET lock_timeout TO 5000", true},
		{"SET SESSION lock_timeout = '10s'", true},
		{"SET lock_timeout = '1.5 s'", true},
		{"SET lock_timeout = '.5min'", true},      // above the cap: lock/timeout-cap, not lock/timeout
		{"SET lock_timeout = '5 seconds'", false}, // not a unit PostgreSQL knows: the lint cannot read it
		{"SELECT set_config('lock_timeout', '5s', false)", true},
		{"SELECT pg_catalog.set_config('lock_timeout', '5000', false), 1", true},
		{"SELECT set_config('lock_timeout', '5s', true)", false}, // local
		{"SELECT set_config('lock_timeout', current_setting('x'), false)", false},
		{"SELECT set_config('statement_timeout', '5s', false)", false},
		{"SET lock_timeout = 0", false},
		{"SET lock_timeout = '0'", false},
		{"SET lock_timeout = '0ms'", false},
		{"SET lock_timeout = 0.0", false},
		{"SET lock_timeout TO DEFAULT", false},
		{"RESET ALL", false},
		{"SET statement_timeout = '5s'", false},
		{"SET LOCAL lock_timeout = '5s'", false}, // outside a transaction block
	}
	for _, tt := range tests {
		res, err := Lint("x_expand.sql", tt.set+";\nALTER TABLE t ADD COLUMN c int;", PhaseExpand)
		if err != nil {
			t.Fatal(err)
		}
		if got := !slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Rule == RuleLockTimeout }); got != tt.want {
			t.Errorf("%s: got timeout on %v, want %v (%v)", tt.set, got, tt.want, res.Findings)
		}
	}
}

func TestRulesDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("rule %s is registered twice", r.ID)
		}
		seen[r.ID] = true
		if r.Summary == "" || r.Hint == "" || len(r.Phases) == 0 || (r.Severity != SeverityError && r.Severity != SeverityNote) {
			t.Errorf("rule %s: got %+v, want a summary, a hint, phases and a severity", r.ID, r)
		}
	}
}

// BenchmarkLint lints a file of 1,000 ALTER TABLE statements.
func BenchmarkLint(b *testing.B) {
	var sql strings.Builder
	sql.WriteString("SET lock_timeout = '5s';\n")
	for i := range 1000 {
		fmt.Fprintf(&sql, "ALTER TABLE users ADD COLUMN c%d text;\n", i)
	}
	for b.Loop() {
		if _, err := Lint("x_expand.sql", sql.String(), PhaseExpand); err != nil {
			b.Fatal(err)
		}
	}
}
