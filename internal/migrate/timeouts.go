package migrate

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// timeouts is what the lint can prove of the session's lock_timeout and statement_timeout at a point of the
// file. Zero means off, or a value the lint cannot know (DEFAULT, RESET: the server's setting).
//
// SET LOCAL never proves a timeout: it lasts until the end of the executor's transaction, whose bounds the
// file does not show. It can still remove one, so SET LOCAL to zero or to a value the lint cannot read
// counts as off until the next SET.
type timeouts struct {
	lock, statement time.Duration
	// lockReported and statementReported are set once their rule fired; the next SET of the setting clears
	// them, so that a file without a timeout draws one finding, not one per statement.
	lockReported, statementReported bool
}

// set tracks SET, SET LOCAL and RESET of lock_timeout and statement_timeout, and flags a lock_timeout above
// MaxLockTimeout.
func (l *linter) set(at int, s *pg.VariableSetStmt) {
	if s.Kind == pg.VariableSetKind_VAR_RESET_ALL {
		l.timeouts = timeouts{}
		return
	}
	name := strings.ToLower(s.Name)
	if name != "lock_timeout" && name != "statement_timeout" {
		return
	}
	v, known := timeoutValue(s)
	if name == "lock_timeout" && known && v > MaxLockTimeout {
		l.add(at, RuleLockTimeoutCap, "sets lock_timeout to %s, above the cap of %s", v, MaxLockTimeout)
	}
	value, reported := &l.timeouts.lock, &l.timeouts.lockReported
	if name == "statement_timeout" {
		value, reported = &l.timeouts.statement, &l.timeouts.statementReported
	}
	*reported = false
	switch {
	case !s.IsLocal:
		*value = v
	case v == 0:
		*value = 0
	case name == "statement_timeout" && v > MaxStatementTimeout:
		// Above the cap for the rest of the executor's transaction: as bad as it would be for the session.
		*value = v
	}
}

// timeUnits are the units of PostgreSQL's time settings, in the spelling it accepts (case-sensitive).
var timeUnits = map[string]time.Duration{
	"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
}

var timeValue = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-z]*)\s*$`)

// timeoutValue reads the value of a SET of a time setting whose unit is milliseconds. It reports false for a
// value it cannot read (SET ... TO DEFAULT, RESET, FROM CURRENT, an expression, an unknown unit), which the
// caller treats as off. A known zero is off too.
func timeoutValue(s *pg.VariableSetStmt) (time.Duration, bool) {
	if s.Kind != pg.VariableSetKind_VAR_SET_VALUE || len(s.Args) != 1 {
		return 0, false
	}
	c := s.Args[0].GetAConst()
	if c == nil || c.Isnull {
		return 0, false
	}
	var text string
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		text = strconv.Itoa(int(v.Ival.Ival))
	case *pg.A_Const_Fval:
		text = v.Fval.Fval
	case *pg.A_Const_Sval:
		text = v.Sval.Sval
	default:
		return 0, false
	}
	m := timeValue.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	unit := time.Millisecond
	if m[2] != "" {
		u, ok := timeUnits[m[2]]
		if !ok {
			return 0, false
		}
		unit = u
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	if f := n * float64(unit); f < math.MaxInt64 {
		return time.Duration(f), true
	}
	return time.Duration(math.MaxInt64), true
}

// locks is called for every statement that may wait for a lock that the service's queries also take; it
// requires a lock_timeout.
func (l *linter) locks(at int) {
	if l.timeouts.lock > 0 || l.timeouts.lockReported {
		return
	}
	l.timeouts.lockReported = true
	l.add(at, RuleLockTimeout, "%q takes locks, and lock_timeout is not set before it", l.stmt)
}

// runsLong is called for every statement whose run time grows with the data; it requires a statement_timeout
// of at most MaxStatementTimeout. what names the statement.
func (l *linter) runsLong(at int, what string) {
	t := &l.timeouts
	if (t.statement > 0 && t.statement <= MaxStatementTimeout) || t.statementReported {
		return
	}
	t.statementReported = true
	inForce := "statement_timeout is not set before it"
	if t.statement > 0 {
		inForce = fmt.Sprintf("statement_timeout is %s, above the cap of %s", t.statement, MaxStatementTimeout)
	}
	l.add(at, RuleStatementTimeout, "%s holds its locks for as long as it runs, and %s", what, inForce)
}

// setConfig treats each set_config('lock_timeout' or 'statement_timeout', value, is_local) in a SELECT as the
// SET it amounts to. A value or an is_local the lint cannot read counts as unknown, and as local.
func (l *linter) setConfig(at int, s *pg.SelectStmt) {
	walk(s, func(n *pg.Node) {
		f := n.GetFuncCall()
		if f == nil {
			return
		}
		if name, builtin := funcName(f); !builtin || name != "set_config" || len(f.Args) != 3 {
			return
		}
		setting := f.Args[0].GetAConst().GetSval().GetSval()
		session := f.Args[2].GetAConst() != nil && !f.Args[2].GetAConst().GetBoolval().GetBoolval()
		l.set(at, &pg.VariableSetStmt{Kind: pg.VariableSetKind_VAR_SET_VALUE, Name: setting, IsLocal: !session, Args: f.Args[1:2]})
	})
}
