// Package migrate checks the SQL of expand-contract migrations on PostgreSQL before anything runs.
//
// Lint parses a file with PostgreSQL's own parser (through pg_query) and applies the rules of its phase (see
// Rules). An expand file must keep the running version working: no drop, rename or constraint that its reads
// and writes would fail on. A file of either phase must not rewrite a table, hold locks that stall the service,
// empty a table, or contain what Ferry's executor cannot run (ExecutionOf); a contract file may destroy what
// only older versions used, and the result then says it is irreversible. Where the lint cannot tell whether a
// statement is safe (a function it does not know in a default, a column it cannot see), it reports it.
//
// The parser is C code: a build without cgo compiles, but Lint returns ErrNoParser.
package migrate

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Finding is one rule that fired. Line and Col are 1-based and locate the start of the statement (for a syntax
// error, the token the parser stopped at); Col counts characters, not bytes.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Col      int      `json:"col"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint"`
}

// String formats the finding as "FILE:LINE:COL: RULE: message (hint)".
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s (%s)", f.File, f.Line, f.Col, f.Rule, f.Message, f.Hint)
}

// Result is the lint of one file.
type Result struct {
	File  string `json:"file"`
	Phase Phase  `json:"phase"`
	// Irreversible is set for a contract file with a statement that destroys data or names (see
	// RuleIrreversible). It is not an error.
	Irreversible bool      `json:"irreversible"`
	Findings     []Finding `json:"findings"`
}

// Errors counts the findings that fail the lint.
func (r Result) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == SeverityError {
			n++
		}
	}
	return n
}

// ErrNoParser is what Lint returns from a build without cgo, which lacks PostgreSQL's parser.
var ErrNoParser = errors.New("this build has no PostgreSQL parser (it was built with CGO_ENABLED=0)")

// PhaseFromName infers the phase from a file name: "*_expand.sql" is expand and "*_contract.sql" is contract.
// It reports false for any other name.
func PhaseFromName(name string) (Phase, bool) {
	base := strings.ToLower(filepath.Base(name))
	switch {
	case strings.HasSuffix(base, "_expand.sql"):
		return PhaseExpand, true
	case strings.HasSuffix(base, "_contract.sql"):
		return PhaseContract, true
	}
	return "", false
}

// ParsePhase checks a phase given by name.
func ParsePhase(s string) (Phase, error) {
	switch p := Phase(s); p {
	case PhaseExpand, PhaseContract:
		return p, nil
	}
	return "", fmt.Errorf("unknown phase %q, want expand or contract", s)
}

// Lint checks sql, the content of file, against the rules of phase. A syntax error is a finding, not an
// error: Lint returns an error only for an unknown phase, or ErrNoParser. It is a pure function of its input.
func Lint(file, sql string, phase Phase) (Result, error) {
	if _, err := ParsePhase(string(phase)); err != nil {
		return Result{}, err
	}
	l := newLinter(file, sql, phase)
	stmts, err := parse(sql)
	var syntax *syntaxError
	if errors.As(err, &syntax) {
		l.add(syntax.offset, RuleSyntax, "%s", syntax.message)
		return l.res, nil
	}
	if err != nil {
		return Result{}, err
	}
	for _, s := range stmts {
		l.statement(s)
	}
	return l.res, nil
}

// syntaxError is a parse failure at a byte offset of the input.
type syntaxError struct {
	message string
	offset  int
}

func (e *syntaxError) Error() string { return e.message }

// add records a finding of rule at the byte offset of the linted SQL, unless the rule does not apply to the
// phase. The finding's hint is the rule's.
func (l *linter) add(offset int, rule, format string, args ...any) {
	l.addHint(offset, rule, ruleByID[rule].Hint, format, args...)
}

// addHint is add with a hint for this statement in place of the rule's.
func (l *linter) addHint(offset int, rule, hint, format string, args ...any) {
	r := ruleByID[rule]
	if !r.appliesTo(l.res.Phase) {
		return
	}
	if rule == RuleIrreversible {
		l.res.Irreversible = true
	}
	line, col := position(l.sql, offset)
	l.res.Findings = append(l.res.Findings, Finding{
		File: l.res.File, Line: line, Col: col, Rule: rule, Severity: r.Severity,
		Message: fmt.Sprintf(format, args...), Hint: hint,
	})
}

// position converts a byte offset of s into a 1-based line and a 1-based column in characters.
func position(s string, offset int) (line, col int) {
	if offset > len(s) {
		offset = len(s)
	}
	if offset < 0 {
		offset = 0
	}
	before := s[:offset]
	line = strings.Count(before, "\n") + 1
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, len([]rune(before[lineStart:])) + 1
}

// byteOffset converts a 0-based character position of s, as PostgreSQL reports it, into a byte offset.
func byteOffset(s string, chars int) int {
	n := 0
	for i := range s {
		if n == chars {
			return i
		}
		n++
	}
	return len(s)
}

// skipSpace returns the offset of the first token at or after offset: pg_query's statement locations start
// right after the previous semicolon, before any white space and comments.
func skipSpace(s string, offset int) int {
	i := offset
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v':
			i++
		case strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				return len(s)
			}
			i += end + 1
		case strings.HasPrefix(s[i:], "/*"):
			// Block comments nest in PostgreSQL.
			depth := 0
			for i < len(s) {
				if strings.HasPrefix(s[i:], "/*") {
					depth++
					i += 2
				} else if strings.HasPrefix(s[i:], "*/") {
					depth--
					i += 2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
		default:
			return i
		}
	}
	return i
}
