package migrate

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMigrations(t *testing.T) {
	doc := `service: checkout
migrations:
  - name: add-email-verified
    expand: migrations/003_expand.sql
    backfill: {table: users, key: id, set: "email_verified = (legacy_flag = 'Y')", where: "email_verified IS NULL"}
    contract: {sql: migrations/003_contract.sql, minAge: 168h, approval: true}
  - name: add-nickname
    expand: migrations/004_expand.sql
`
	got, err := ParseMigrations([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []Migration{
		{
			Name: "add-email-verified", Expand: "migrations/003_expand.sql",
			Backfill: &Backfill{Table: "users", Key: "id", Set: "email_verified = (legacy_flag = 'Y')", Where: "email_verified IS NULL"},
			Contract: &Contract{SQL: "migrations/003_contract.sql", MinAge: Duration(168 * time.Hour), Approval: true},
		},
		{Name: "add-nickname", Expand: "migrations/004_expand.sql"},
	}
	if len(got) != 2 || got[0].Name != want[0].Name || *got[0].Backfill != *want[0].Backfill || *got[0].Contract != *want[0].Contract ||
		got[1].Name != want[1].Name || got[1].Backfill != nil || got[1].Contract != nil {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if none, err := ParseMigrations([]byte("service: checkout\n")); err != nil || none != nil {
		t.Errorf("no migrations: got %v, %v, want none", none, err)
	}
}

func TestParseMigrationsProblems(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"unknown field", "migrations: [{name: a, expand: a_expand.sql, contract: {sql: a_contract.sql, min_age: 1h}}]",
			[]string{"migrations: field min_age not found in type migrate.Contract"}},
		{"bad duration", "migrations: [{name: a, expand: a_expand.sql, contract: {sql: a_contract.sql, minAge: a week}}]",
			[]string{`migrations: "a week" is not a duration such as 168h or 30m`}},
		{"invalid", `migrations:
  - {name: Add_Email, expand: 003.sql, backfill: {table: "users; drop", set: " "}, contract: {sql: 003_expand.sql, minAge: -1h}}
  - {expand: 004_expand.sql}
  - {name: a, expand: a_expand.sql}
  - {name: a, expand: b_expand.sql}`,
			[]string{
				`migrations[0].name: "Add_Email" must be lower-case letters, digits and dashes, at most 63`,
				`migrations[0].expand: "003.sql" must name a file ending in _expand.sql`,
				`migrations[0].backfill.table: "users; drop" must be a table name, optionally with its schema`,
				`migrations[0].backfill.set: is required: the SET list of the UPDATE, such as "col = expr"`,
				`migrations[0].contract.sql: "003_expand.sql" must name a file ending in _contract.sql`,
				`migrations[0].contract.minAge: -1h0m0s must not be negative`,
				`migrations[1].name: is required`,
				`migrations[3].name: "a" is also the name of migrations[2]`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMigrations([]byte(tt.doc))
			p, ok := err.(Problems)
			if !ok || !slices.Equal([]string(p), tt.want) {
				t.Errorf("got %v (%T), want:\n%s", err, err, strings.Join(tt.want, "\n"))
			}
		})
	}
}
