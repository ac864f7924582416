package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Migration is one expand-contract migration of a service, as the `migrations:` list of ferry.yaml declares
// it. File paths are relative to the spec's directory.
type Migration struct {
	// Name identifies the migration within the service: lower-case letters, digits and dashes.
	Name string `yaml:"name" json:"name"`
	// Expand is the SQL file that runs before the new version deploys, while the old version still serves.
	Expand string `yaml:"expand" json:"expand"`
	// Backfill, if set, fills new columns once the new version serves all traffic.
	Backfill *Backfill `yaml:"backfill,omitempty" json:"backfill,omitempty"`
	// Contract, if set, removes what only older versions used, once none of them is left.
	Contract *Contract `yaml:"contract,omitempty" json:"contract,omitempty"`
}

// Backfill is an UPDATE run in batches: UPDATE Table SET Set WHERE Where, over ranges of Key.
type Backfill struct {
	Table string `yaml:"table" json:"table"`
	// Key is the column whose ranges make the batches, such as the primary key.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Set is the SET list, such as "email_verified = (legacy_flag = 'Y')".
	Set string `yaml:"set" json:"set"`
	// Where selects the rows still to fill, such as "email_verified IS NULL"; empty means every row. It should
	// become false for a filled row, so that a resumed backfill skips the rows it already did.
	Where string `yaml:"where,omitempty" json:"where,omitempty"`
}

// Contract is the destructive half of a migration.
type Contract struct {
	// SQL is the contract SQL file.
	SQL string `yaml:"sql" json:"sql"`
	// MinAge is how long after the expand the contract may run at the earliest.
	MinAge Duration `yaml:"minAge,omitempty" json:"minAge,omitempty"`
	// Approval requires a human approval before the contract runs.
	Approval bool `yaml:"approval,omitempty" json:"approval,omitempty"`
}

// Duration is a time.Duration written as "168h" or "30m" in YAML, and as nanoseconds in JSON.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 168h or 30m", text)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// MarshalJSON writes nanoseconds, as the spec's other durations.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprint(int64(d))), nil }

// UnmarshalJSON reads nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var n int64
	if _, err := fmt.Sscan(string(b), &n); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(n)
	return nil
}

// Problems lists everything wrong with a list of migrations, one "PATH: message" per entry.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// ParseMigrations decodes a YAML document whose `migrations:` key holds the list (other keys are ignored, so
// that a whole ferry.yaml can be passed) and validates it. It returns Problems for an invalid list.
func ParseMigrations(data []byte) ([]Migration, error) {
	var doc struct {
		Migrations yaml.Node `yaml:"migrations"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse migrations: %w", err)
	}
	if doc.Migrations.Kind == 0 {
		return nil, nil
	}
	var out []Migration
	// Re-encode the node so that a strict decoder rejects unknown fields, such as a misspelt minAge.
	var buf bytes.Buffer
	if err := yaml.NewEncoder(&buf).Encode(&doc.Migrations); err != nil {
		return nil, fmt.Errorf("parse migrations: %w", err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(&out); err != nil {
		// The lines of the re-encoded node are not the file's; the messages still name the fields.
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, Problems(stripLines(te.Errors))
		}
		return nil, Problems(stripLines([]string{err.Error()}))
	}
	if p := Validate(out); len(p) > 0 {
		return nil, p
	}
	return out, nil
}

var yamlLine = regexp.MustCompile(`^line \d+: `)

func stripLines(msgs []string) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = "migrations: " + yamlLine.ReplaceAllString(m, "")
	}
	return out
}

var (
	migrationName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	identifier    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)
)

// Validate checks a list of migrations: names present, well-formed and unique; expand files ending in
// _expand.sql and contract files in _contract.sql, so that `ferry migrate lint` infers their phase; a
// backfill with a table, a key and a SET list; a contract with its file and a non-negative minAge.
func Validate(ms []Migration) Problems {
	var p Problems
	add := func(path, format string, args ...any) { p = append(p, path+": "+fmt.Sprintf(format, args...)) }
	seen := map[string]int{}
	for i, m := range ms {
		at := fmt.Sprintf("migrations[%d]", i)
		switch j, dup := seen[m.Name]; {
		case m.Name == "":
			add(at+".name", "is required")
		case !migrationName.MatchString(m.Name):
			add(at+".name", "%q must be lower-case letters, digits and dashes, at most 63", m.Name)
		case dup:
			add(at+".name", "%q is also the name of migrations[%d]", m.Name, j)
		default:
			seen[m.Name] = i
		}
		if phase, ok := PhaseFromName(m.Expand); !ok || phase != PhaseExpand {
			add(at+".expand", "%q must name a file ending in _expand.sql", m.Expand)
		}
		if b := m.Backfill; b != nil {
			if !identifier.MatchString(b.Table) {
				add(at+".backfill.table", "%q must be a table name, optionally with its schema", b.Table)
			}
			if b.Key != "" && !identifier.MatchString(b.Key) {
				add(at+".backfill.key", "%q must be a column name", b.Key)
			}
			if strings.TrimSpace(b.Set) == "" {
				add(at+".backfill.set", "is required: the SET list of the UPDATE, such as \"col = expr\"")
			}
		}
		if c := m.Contract; c != nil {
			if phase, ok := PhaseFromName(c.SQL); !ok || phase != PhaseContract {
				add(at+".contract.sql", "%q must name a file ending in _contract.sql", c.SQL)
			}
			if c.MinAge < 0 {
				add(at+".contract.minAge", "%s must not be negative", time.Duration(c.MinAge))
			}
		}
	}
	return p
}
