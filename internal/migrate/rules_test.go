package migrate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// findings lints sql as a file of phase and returns its findings as "LINE RULE" strings.
func findings(t *testing.T, sql string, phase Phase) []string {
	t.Helper()
	res, err := Lint("x_"+string(phase)+".sql", sql, phase)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range res.Findings {
		out = append(out, fmt.Sprintf("%d %s", f.Line, f.Rule))
	}
	return out
}

func TestExecutionOf(t *testing.T) {
	tests := []struct {
		sql    string
		want   Execution
		reason string
	}{
		{"ALTER TABLE users ADD COLUMN nickname text", InTransaction, ""},
		{"ANALYZE users", InTransaction, ""},
		{"REINDEX INDEX users_email_idx", InTransaction, ""},
		{"CLUSTER users USING users_pkey", InTransaction, ""},
		{"ALTER TABLE events DETACH PARTITION events_2023", InTransaction, ""},
		{"DISCARD PLANS", InTransaction, ""},
		{"CREATE INDEX CONCURRENTLY i ON users (email)", Alone, ""},
		{"DROP INDEX CONCURRENTLY i", Alone, ""},
		{"BEGIN", Refused, "BEGIN is transaction control"},
		{"START TRANSACTION ISOLATION LEVEL SERIALIZABLE", Refused, "START TRANSACTION is transaction control"},
		{"COMMIT", Refused, "COMMIT is transaction control"},
		{"END", Refused, "COMMIT is transaction control"},
		{"ROLLBACK", Refused, "ROLLBACK is transaction control"},
		{"SAVEPOINT s", Refused, "SAVEPOINT is transaction control"},
		{"RELEASE SAVEPOINT s", Refused, "RELEASE SAVEPOINT is transaction control"},
		{"ROLLBACK TO SAVEPOINT s", Refused, "ROLLBACK TO SAVEPOINT is transaction control"},
		{"PREPARE TRANSACTION 'x'", Refused, "PREPARE TRANSACTION is transaction control"},
		{"COMMIT PREPARED 'x'", Refused, "COMMIT PREPARED is transaction control"},
		{"VACUUM users", Refused, "VACUUM: PostgreSQL refuses it inside a transaction block"},
		{"VACUUM (FULL, ANALYZE) users", Refused, "VACUUM"},
		{"REINDEX TABLE CONCURRENTLY users", Refused, "REINDEX CONCURRENTLY"},
		{"REINDEX (CONCURRENTLY) INDEX users_email_idx", Refused, "REINDEX CONCURRENTLY"},
		{"REINDEX SCHEMA public", Refused, "REINDEX of a schema"},
		{"REINDEX DATABASE app", Refused, "REINDEX of a schema"},
		{"CLUSTER", Refused, "CLUSTER without a table"},
		{"ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY", Refused, "DETACH PARTITION CONCURRENTLY"},
		{"CREATE DATABASE scratch", Refused, "CREATE/DROP DATABASE"},
		{"DROP DATABASE scratch", Refused, "CREATE/DROP DATABASE"},
		{"ALTER DATABASE app SET TABLESPACE fast", Refused, "ALTER DATABASE SET TABLESPACE"},
		{"CREATE TABLESPACE fast LOCATION '/srv'", Refused, "CREATE/DROP TABLESPACE"},
		{"ALTER SYSTEM SET work_mem = '64MB'", Refused, "ALTER SYSTEM"},
		{"DISCARD ALL", Refused, "DISCARD ALL"},
		{"DROP SUBSCRIPTION s", Refused, "SUBSCRIPTION"},
	}
	for _, tt := range tests {
		stmts, err := parse(tt.sql)
		if err != nil || len(stmts) != 1 {
			t.Fatalf("%s: parse: %v", tt.sql, err)
		}
		got, reason := ExecutionOf(stmts[0].Stmt)
		if got != tt.want || !strings.Contains(reason, tt.reason) || (tt.reason == "") != (reason == "") {
			t.Errorf("%s: got %d %q, want %d %q", tt.sql, got, reason, tt.want, tt.reason)
		}
	}
}

func TestTransactionControlStopsOtherRules(t *testing.T) {
	// A statement the executor refuses draws exec/transaction alone: no other rule can make it run.
	got := findings(t, "REINDEX INDEX CONCURRENTLY i;\nDROP DATABASE old;", PhaseExpand)
	if want := []string{"1 exec/transaction", "2 exec/transaction"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDefaultRisk(t *testing.T) {
	tests := []struct {
		def  string
		want string // "" for no rewrite
	}{
		{"0", ""},
		{"'{}'::jsonb", ""},
		{"ARRAY[]::text[]", ""},
		{"now()", ""},
		{"pg_catalog.now()", ""},
		{"CURRENT_TIMESTAMP", ""},
		{"LOCALTIMESTAMP(0)", ""},
		{"CURRENT_USER", ""},
		{"now() + interval '1 day'", ""},
		{"date_trunc('day', now())", ""},
		{"coalesce(current_setting('app.tenant', true), 'none')", ""},
		{"gen_random_uuid()", "gen_random_uuid() is volatile"},
		{"pg_catalog.gen_random_uuid()", "gen_random_uuid() is volatile"},
		{"clock_timestamp()", "clock_timestamp() is volatile"},
		{"timeofday()::timestamptz", "timeofday() is volatile"},
		{"nextval('s')", "nextval() is volatile"},
		{"upper(md5(random()::text))", "random() is volatile"},
		{"uuid_generate_v4()", "uuid_generate_v4() is volatile"},
		{"app.now()", "cannot tell whether app.now() is volatile"},
		{"make_token()", "cannot tell whether make_token() is volatile"},
	}
	for _, tt := range tests {
		stmts, err := parse("ALTER TABLE t ADD COLUMN c text DEFAULT " + tt.def)
		if err != nil {
			t.Fatalf("%s: %v", tt.def, err)
		}
		def := stmts[0].Stmt.GetAlterTableStmt().Cmds[0].GetAlterTableCmd().Def.GetColumnDef()
		got := defaultRisk(def.Constraints[0].GetConstraint().RawExpr)
		if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
			t.Errorf("DEFAULT %s: got %q, want %q", tt.def, got, tt.want)
		}
	}
}

func TestTightenConstraint(t *testing.T) {
	const timeout = "SET lock_timeout = '5s';\n"
	tests := []struct {
		name, sql string
		want      []string // findings from line 2 on, in an expand file
	}{
		{"set not null on an old column",
			"ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
			[]string{"2 lock/set-not-null", "2 expand/tighten-constraint"}},
		{"set not null on a new column left NULL",
			"ALTER TABLE users ADD COLUMN locale text;\nALTER TABLE users ALTER COLUMN locale SET NOT NULL;",
			[]string{"3 lock/set-not-null", "3 expand/tighten-constraint"}},
		{"set not null after a NOT NULL check is judged at the check",
			"ALTER TABLE users ADD CONSTRAINT c CHECK (email IS NOT NULL) NOT VALID;\nALTER TABLE users VALIDATE CONSTRAINT c;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;",
			[]string{"2 expand/tighten-constraint"}},
		{"primary key on an index of old columns",
			"CREATE UNIQUE INDEX CONCURRENTLY users_id_new ON users (id);\nALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_new;",
			[]string{"2 expand/tighten-constraint", "3 expand/tighten-constraint"}},
		{"primary key on an index the lint has not seen",
			"ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY USING INDEX users_id_new;",
			[]string{"2 expand/tighten-constraint"}},
		{"unique constraint on an index: the index already enforces it",
			"ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;",
			nil},
		{"unique nulls not distinct on a new column",
			"ALTER TABLE users ADD COLUMN handle text;\nCREATE UNIQUE INDEX CONCURRENTLY users_handle_key ON users (handle) NULLS NOT DISTINCT;",
			[]string{"3 expand/tighten-constraint"}},
		{"unique index on a new column with a constant default",
			"ALTER TABLE users ADD COLUMN handle text DEFAULT 'x';\nCREATE UNIQUE INDEX CONCURRENTLY users_handle_key ON users (handle);",
			[]string{"3 expand/tighten-constraint"}},
		{"foreign key on a new column with a default",
			"ALTER TABLE users ADD COLUMN org_id bigint DEFAULT 1;\nALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;",
			[]string{"3 expand/tighten-constraint"}},
		{"check over a new and an old column",
			"ALTER TABLE orders ADD COLUMN discount numeric;\nALTER TABLE orders ADD CONSTRAINT c CHECK (discount <= amount) NOT VALID;",
			[]string{"3 expand/tighten-constraint"}},
		{"check with CASE on a new column",
			"ALTER TABLE orders ADD COLUMN discount numeric;\nALTER TABLE orders ADD CONSTRAINT c CHECK (CASE WHEN discount IS NULL THEN false ELSE true END) NOT VALID;",
			[]string{"3 expand/tighten-constraint"}},
		{"check with no column",
			"ALTER TABLE orders ADD CONSTRAINT c CHECK (false) NOT VALID;",
			[]string{"2 expand/tighten-constraint"}},
		{"inline primary key on an identity column: distinct values",
			"ALTER TABLE events ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;",
			[]string{"2 rewrite/identity", "2 lock/unique-using-index"}},
		{"inline primary key on a plain column",
			"ALTER TABLE events ADD COLUMN id bigint PRIMARY KEY;",
			[]string{"2 expand/add-column-not-null", "2 lock/unique-using-index", "2 expand/tighten-constraint"}},
		{"exclusion constraint on old columns",
			"ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);",
			[]string{"2 expand/tighten-constraint"}},
		{"domain set not null",
			"ALTER DOMAIN email_address SET NOT NULL;",
			[]string{"2 lock/set-not-null", "2 expand/tighten-constraint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findings(t, timeout+tt.sql, PhaseExpand); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// In contract no old version writes: the same statements draw no tighten-constraint.
	for _, tt := range tests {
		for _, f := range findings(t, timeout+tt.sql, PhaseContract) {
			if strings.HasSuffix(f, RuleTightenConstraint) {
				t.Errorf("%s: contract got %s", tt.name, f)
			}
		}
	}
}

func TestCreatedTables(t *testing.T) {
	const timeout = "SET lock_timeout = '5s';\n"
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"a new table is exempt",
			"CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN seq bigserial, DROP COLUMN id;",
			nil},
		{"IF NOT EXISTS may create nothing",
			"CREATE TABLE IF NOT EXISTS t (id bigint);\nALTER TABLE t ADD COLUMN seq bigserial, DROP COLUMN id;",
			[]string{"3 rewrite/serial", "3 expand/drop-column"}},
		{"CREATE TABLE AS creates a table",
			"CREATE TABLE t AS SELECT id FROM users;\nCREATE INDEX t_id ON t (id);",
			nil},
		{"CREATE TABLE AS with IF NOT EXISTS may create nothing",
			"CREATE TABLE IF NOT EXISTS t AS SELECT id FROM users;\nCREATE INDEX t_id ON t (id);",
			[]string{"3 lock/index-concurrently"}},
		{"a partition receives the old version's writes to its parent",
			"CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\nALTER TABLE events_2025 ADD CONSTRAINT c CHECK (kind <> '') NOT VALID;",
			[]string{"3 expand/tighten-constraint"}},
		{"a renamed new table stays new",
			"CREATE TABLE t_draft (id bigint);\nALTER TABLE t_draft RENAME TO t;\nTRUNCATE t;",
			nil},
		{"a new table moved to another schema stays new",
			"CREATE TABLE t (id bigint);\nALTER TABLE t SET SCHEMA app;\nTRUNCATE app.t;",
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findings(t, timeout+tt.sql, PhaseExpand); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStatementTimeout(t *testing.T) {
	const timeout = "SET lock_timeout = '5s';\n"
	tests := []struct {
		name, sql string
		want      []string
	}{
		{"none", "UPDATE t SET a = 1;", []string{"2 lock/statement-timeout"}},
		{"within the cap", "SET statement_timeout = '60s';\nUPDATE t SET a = 1;", nil},
		{"above the cap", "SET statement_timeout = 61000;\nUPDATE t SET a = 1;", []string{"3 lock/statement-timeout"}},
		{"zero is off", "SET statement_timeout = 0;\nDELETE FROM t;", []string{"3 lock/statement-timeout"}},
		{"RESET ALL turns it off", "SET statement_timeout = '5s';\nRESET ALL;\nSET lock_timeout = '5s';\nMERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE;", []string{"5 lock/statement-timeout"}},
		{"SET LOCAL does not count", "SET LOCAL statement_timeout = '5s';\nCALL app.migrate();", []string{"3 lock/statement-timeout"}},
		{"SET LOCAL 0 turns it off", "SET statement_timeout = '5s';\nSET LOCAL statement_timeout = 0;\nUPDATE t SET a = 1;", []string{"4 lock/statement-timeout"}},
		{"one finding until the next SET", "UPDATE t SET a = 1;\nUPDATE t SET b = 1;", []string{"2 lock/statement-timeout"}},
		{"a VALUES list is bounded by the file", "INSERT INTO t VALUES (1), (2);", nil},
		{"INSERT from a query", "INSERT INTO t SELECT * FROM s;", []string{"2 lock/statement-timeout"}},
		{"refresh of a view this file created", "CREATE MATERIALIZED VIEW v AS SELECT 1;\nREFRESH MATERIALIZED VIEW v;", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := findings(t, timeout+tt.sql, PhaseContract); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTimeoutValue(t *testing.T) {
	tests := []struct {
		value string
		want  string // "" when the lint cannot read it
	}{
		{"5000", "5s"},
		{"'5000'", "5s"},
		{"1.5", "1.5ms"},
		{"'1.5 s'", "1.5s"},
		{"'250ms'", "250ms"},
		{"'2min'", "2m0s"},
		{"'1h'", "1h0m0s"},
		{"'1d'", "24h0m0s"},
		{"'100us'", "100µs"},
		{"'0'", "0s"},
		{"'5S'", ""}, // units are case-sensitive in PostgreSQL
		{"'5 seconds'", ""},
		{"DEFAULT", ""},
		{"'99999999999999999h'", "2562047h47m16.854775807s"},
	}
	for _, tt := range tests {
		stmts, err := parse("SET lock_timeout = " + tt.value)
		if err != nil {
			t.Fatalf("%s: %v", tt.value, err)
		}
		d, ok := timeoutValue(stmts[0].Stmt.GetVariableSetStmt())
		got := ""
		if ok {
			got = d.String()
		}
		if got != tt.want {
			t.Errorf("SET lock_timeout = %s: got %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestRenamesAndDrops(t *testing.T) {
	const timeout = "SET lock_timeout = '5s';\n"
	tests := []struct {
		sql  string
		want string // the message of the expand finding, "" for none
	}{
		{"ALTER VIEW active_users RENAME TO users_active", "renames view active_users to users_active"},
		{"ALTER MATERIALIZED VIEW totals RENAME COLUMN n TO count", "renames column totals.n to count"},
		{"ALTER TYPE address RENAME ATTRIBUTE zip TO postcode", "renames attribute address.zip to postcode"},
		{"ALTER DOMAIN email RENAME CONSTRAINT a TO b", "renames constraint a of domain email to b"},
		{"ALTER ROLE app RENAME TO service", "renames role app to service"},
		{"ALTER EXTENSION citext SET SCHEMA ext", "renames extension citext to ext.citext (SET SCHEMA)"},
		{"ALTER POLICY p ON users RENAME TO q", ""},
		{"ALTER STATISTICS s RENAME TO t", ""},
		{"DROP POLICY IF EXISTS tenant ON users", "drops policy tenant on users"},
		{"DROP EXTENSION citext", "drops extension citext"},
		{"DROP DOMAIN email", "drops domain email"},
		{"DROP OWNED BY reporting", "drops everything owned by reporting"},
		{"ALTER TABLE users ALTER COLUMN id DROP IDENTITY", "drops the identity of column users.id: the old version's inserts get NULL instead"},
		{"ALTER TABLE orders ALTER COLUMN total DROP EXPRESSION", "drops the generation expression of column orders.total: new rows get NULL instead"},
		{"ALTER TABLE events DETACH PARTITION events_2023", "detaches partition events_2023 from events: its rows leave events"},
		{"ALTER TABLE events_2023 NO INHERIT events", "detaches events_2023 from its parent events: its rows leave events"},
		{"ALTER DOMAIN email DROP CONSTRAINT has_at", "drops constraint has_at of domain email"},
		{"ALTER DOMAIN email DROP DEFAULT", "drops the default of domain email: the old version's inserts get NULL instead"},
	}
	for _, tt := range tests {
		res, err := Lint("x_expand.sql", timeout+tt.sql, PhaseExpand)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range res.Findings {
			got = append(got, f.Message)
		}
		if want := []string{tt.want}; (tt.want == "" && len(got) != 0) || (tt.want != "" && !slices.Equal(got, want)) {
			t.Errorf("%s: got %q, want %q", tt.sql, got, tt.want)
		}
	}
}
