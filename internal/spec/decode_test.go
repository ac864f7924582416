package spec

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeCase is one row of a decoder table: YAML text, the value it decodes to, and the problems it gives.
type decodeCase[T any] struct {
	yaml    string
	want    T
	wantErr string
}

// checkDecode decodes each case into a new T the way Parse does, without defaults or validation, and compares
// the problems and, when none are expected, the value.
func checkDecode[T any](t *testing.T, cases []decodeCase[T]) {
	t.Helper()
	for _, tt := range cases {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
			t.Fatalf("yaml.Unmarshal(%q): %v", tt.yaml, err)
		}
		var got T
		d := &decoder{source: newSource("t.yaml"), budget: maxNodes}
		d.value(doc.Content[0], "", reflect.ValueOf(&got).Elem())
		var gotErr string
		if err := errOrNil(d.problems); err != nil {
			gotErr = err.Error()
		}
		switch {
		case gotErr != tt.wantErr:
			t.Errorf("%q: got error %q, want %q", tt.yaml, gotErr, tt.wantErr)
		case tt.wantErr == "" && !reflect.DeepEqual(got, tt.want):
			t.Errorf("%q: got %+v, want %+v", tt.yaml, got, tt.want)
		}
	}
}

func TestDecodeDuration(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
	}
	checkDecode(t, []decodeCase[doc]{
		{yaml: "d: 90s", want: doc{Duration(90 * time.Second)}},
		{yaml: "d: 5m", want: doc{Duration(5 * time.Minute)}},
		{yaml: "d: 1h30m", want: doc{Duration(90 * time.Minute)}},
		{yaml: "d: 250ms", want: doc{Duration(250 * time.Millisecond)}},
		{yaml: "d: 0", want: doc{}},
		{yaml: `d: "10m"`, want: doc{Duration(10 * time.Minute)}},
		{yaml: "d: five", wantErr: `t.yaml:1: d: must be a duration like 5m, got "five"`},
		{yaml: "d: 300", wantErr: `t.yaml:1: d: must be a duration like 5m, got 300`},
		{yaml: "d: -5m", wantErr: `t.yaml:1: d: must not be negative, got "-5m"`},
		{yaml: "d: [5m]", wantErr: `t.yaml:1: d: must be a duration like 5m, got a list`},
		{yaml: "d: {m: 5}", wantErr: `t.yaml:1: d: must be a duration like 5m, got a mapping`},
		{yaml: "d: true", wantErr: `t.yaml:1: d: must be a duration like 5m, got true`},
	})
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"},
		{90 * time.Minute, "1h30m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{30 * time.Second, "30s"},
		{90 * time.Millisecond, "90ms"},
		{0, "0s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%d).String(): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDecodeGate(t *testing.T) {
	type doc struct {
		Gate Gate `yaml:"gate"`
	}
	checkDecode(t, []decodeCase[doc]{
		{yaml: "gate: auto", want: doc{Gate{Auto: true}}},
		{yaml: "gate: {approval: {quorum: 2}}", want: doc{Gate{Approval: &Approval{Quorum: 2}}}},
		{yaml: "gate: {approval: }", want: doc{Gate{Approval: &Approval{}}}},
		{yaml: "gate: {window: {days: [mon]}}", want: doc{Gate{Window: &Window{Days: []string{"mon"}}}}},
		{yaml: "gate: {}", want: doc{Gate{}}},
		{yaml: "gate: ", want: doc{Gate{}}},
		{yaml: "gate: manual",
			wantErr: `t.yaml:1: gate: must be "auto" or a mapping with approval and/or window, got "manual"`},
		{yaml: "gate: [auto]",
			wantErr: `t.yaml:1: gate: must be "auto" or a mapping with approval and/or window, got a list`},
		{yaml: "gate: {auto: true}", wantErr: `t.yaml:1: gate.auto: unknown field (known: approval, window)`},
	})
}

// TestOmittedGateIsAuto covers the default: no gate, an empty one, and an explicit auto all mean auto.
func TestOmittedGateIsAuto(t *testing.T) {
	for _, gate := range []string{"", "gate: {}", "gate: auto", "gate:"} {
		s, err := Parse([]byte(minimalSpec(gate)), "ferry.yaml")
		if err != nil {
			t.Fatalf("%q: %v", gate, err)
		}
		if g := s.Environments[0].Gate; !g.Auto || g.Approval != nil || g.Window != nil {
			t.Errorf("%q: got gate %+v, want auto", gate, g)
		}
	}
}

// minimalSpec returns a valid spec with extra lines (indented as environment fields) added to its only env.
func minimalSpec(envLines ...string) string {
	var b strings.Builder
	b.WriteString("service: s\nimage: {repository: r.example/s}\n")
	b.WriteString("platform:\n  exec: {deploy: [./d.sh], rollback: [./r.sh], remove: [./rm.sh]}\n")
	b.WriteString("environments:\n  - name: e\n")
	for _, l := range envLines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func TestDecodeScalars(t *testing.T) {
	type out struct {
		S  string            `yaml:"s"`
		N  int               `yaml:"n"`
		L  []string          `yaml:"l"`
		M  map[string]string `yaml:"m"`
		P  *Pause            `yaml:"p"`
		Ps []Pause           `yaml:"ps"`
	}
	checkDecode(t, []decodeCase[out]{
		{yaml: "s: text", want: out{S: "text"}},
		{yaml: "s: 1.5", want: out{S: "1.5"}},
		{yaml: "s: true", wantErr: "t.yaml:1: s: must be a string, got true"},
		{yaml: "n: 0x10", want: out{N: 16}},
		{yaml: `n: "3"`, wantErr: `t.yaml:1: n: must be an integer, got "3"`},
		{yaml: "l: [a, b]", want: out{L: []string{"a", "b"}}},
		{yaml: "l: a b", wantErr: `t.yaml:1: l: must be a list like [a, b], got "a b"`},
		{yaml: "m: {A: x, B: true, C: 8080, D: }", want: out{M: map[string]string{"A": "x", "B": "true", "C": "8080", "D": ""}}},
		{yaml: "p: ", want: out{P: &Pause{}}},
		{yaml: "ps: [{duration: 1m}, ~]", want: out{Ps: []Pause{{Duration: Duration(time.Minute)}, {}}}},
		{yaml: "s: a\ns: b", want: out{S: "a"}, wantErr: "t.yaml:2: s: duplicate field (first set on line 1)"},
		{yaml: "a: &a {duration: 1m}\np: *a", wantErr: `t.yaml:1: a: unknown field (known: s, n, l, m, p, ps)`},
		{yaml: "p: &a {duration: 1m}\nps: [*a, *a]",
			want: out{P: &Pause{Duration: Duration(time.Minute)}, Ps: []Pause{{Duration(time.Minute)}, {Duration(time.Minute)}}}},
	})
}

// TestMergeKeys checks that anchors, aliases and merge keys work, and that explicit keys win over merged ones.
func TestMergeKeys(t *testing.T) {
	text := minimalSpec(
		"checks:",
		"  smoke:",
		"    - &probe {exec: [./probe.sh], timeout: 5s}",
		"    - {<<: *probe, name: named}",
		"    - {<<: *probe, timeout: 9s}",
	)
	s, err := Parse([]byte(text), "ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	smoke := s.Environments[0].Checks.Smoke
	want := []Check{
		{Name: "./probe.sh", Exec: []string{"./probe.sh"}, Timeout: Duration(5 * time.Second)},
		{Name: "named", Exec: []string{"./probe.sh"}, Timeout: Duration(5 * time.Second)},
		{Name: "./probe.sh", Exec: []string{"./probe.sh"}, Timeout: Duration(9 * time.Second)},
	}
	if !reflect.DeepEqual(smoke, want) {
		t.Errorf("got %+v, want %+v", smoke, want)
	}
}

func TestSyntaxErrorLines(t *testing.T) {
	tests := []struct {
		yaml string
		want string
	}{
		{"a: 1\n\tb: 2\n", "f.yaml:2: invalid YAML: a tab character in indentation (indent with spaces)"},
		// yaml.v3 reports these on the line before the tab, or on none.
		{"service: a\nimage:\n  repository: x\n\tplatform: y\n", "f.yaml:4: invalid YAML: a tab character in indentation (indent with spaces)"},
		{"\tservice: a\n", "f.yaml:1: invalid YAML: a tab character in indentation (indent with spaces)"},
		{"a: 1\nb:\n  c: 2\n\n\t\td: 3\n", "f.yaml:5: invalid YAML: a tab character in indentation (indent with spaces)"},
		// yaml.v3 reports an unknown anchor without a line.
		{"service: a\n\nimage: *nope\n", `f.yaml:3: invalid YAML: unknown anchor "nope" (define &nope before *nope uses it)`},
		{"a: [1, 2]\nb:\n  - {x: *anc}\n", `f.yaml:3: invalid YAML: unknown anchor "anc" (define &anc before *anc uses it)`},
		{"a:\n  b: 1\n   c: 2\n", "f.yaml:3: invalid YAML: mapping values are not allowed in this context"},
		{"a: 1\nb: [1, 2\nc: 3\n", "f.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"a:\n  - x\n  y: 1\n", "f.yaml:2: invalid YAML: did not find expected '-' indicator"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "f.yaml")
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: got error %v, want %q", tt.yaml, err, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"name", "gate", "replicas", "strategy", "config", "url", "checks", "verify"}
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"stratgy", fields, "strategy"},
		{"strategey", fields, "strategy"},
		{"replica", fields, "replicas"},
		{"Replicas", fields, "replicas"},
		{"check", fields, "checks"},
		{"nmae", fields, "name"},
		{"urls", fields, "url"},
		{"metrics", fields, ""},
		{"timeout", fields, ""},
		{"x", fields, ""},
		{"max_surge", []string{"maxUnavailable", "maxSurge"}, "maxSurge"},
		{"bluegreen", strategies, "blue-green"},
		{"canery", strategies, "canary"},
		{"rolling-update", strategies, ""},
		{"tues", Weekdays, "tue"},
		{".Verison", templateVarNames, ".Version"},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, tt.candidates); got != tt.want {
			t.Errorf("suggest(%q): got %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"nmae", "name", 1},
		{"ab", "ba", 1},
		{"strategy", "stratgy", 1},
		{"gate", "gate", 0},
		{"zürich", "zurich", 1},
	}
	for _, tt := range tests {
		if got := distance(tt.a, tt.b); got != tt.want {
			t.Errorf("distance(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
