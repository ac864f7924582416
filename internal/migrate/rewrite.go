package migrate

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// column is what the file established about a column it added to a table that existed before it.
type column struct {
	// filled is set when the old version's inserts, which do not name the column, still give it a value: a
	// default, an identity, a serial sequence or a generation expression. Otherwise they leave it NULL.
	filled bool
	// distinct is set when that value differs from row to row: an identity or a serial sequence.
	distinct bool
}

// addColumn applies the rules to ALTER TABLE ... ADD COLUMN on a table that existed before the file.
func (l *linter) addColumn(at int, table string, def *pg.ColumnDef) {
	name := table + "." + def.Colname
	info := column{}
	if isSerial(def) {
		info = column{filled: true, distinct: true}
		l.add(at, RuleSerial, "adds serial column %s to an existing table", name)
	}
	if def.Identity != "" {
		info = column{filled: true, distinct: true}
		l.add(at, RuleIdentity, "adds identity column %s to an existing table", name)
	}
	for _, n := range def.Constraints {
		c := n.GetConstraint()
		switch c.GetContype() {
		case pg.ConstrType_CONSTR_IDENTITY:
			info = column{filled: true, distinct: true}
			l.add(at, RuleIdentity, "adds identity column %s to an existing table", name)
		case pg.ConstrType_CONSTR_GENERATED:
			info.filled = true
			l.add(at, RuleStoredGenerated, "adds STORED generated column %s to an existing table", name)
		case pg.ConstrType_CONSTR_DEFAULT:
			info.filled = !isNullConst(c.RawExpr)
			if risk := defaultRisk(c.RawExpr); risk != "" {
				l.add(at, RuleVolatileDefault, "adds column %s with a default that makes PostgreSQL rewrite the table: %s", name, risk)
			}
		}
	}
	if l.added[table] == nil {
		l.added[table] = map[string]column{}
	}
	l.added[table][def.Colname] = info
	if notNullWithoutDefault(def) {
		l.add(at, RuleAddColumnNotNull, "adds column %s NOT NULL without a default", name)
	}
	for _, n := range def.Constraints {
		l.columnConstraint(at, table, def.Colname, n.GetConstraint())
	}
}

// columnConstraint applies the lock and expand rules to a constraint declared with ADD COLUMN.
func (l *linter) columnConstraint(at int, table, col string, c *pg.Constraint) {
	name := table + "." + col
	switch c.GetContype() {
	case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
		l.add(at, RuleUniqueUsingIndex, "adds column %s with an inline UNIQUE or PRIMARY KEY constraint", name)
	case pg.ConstrType_CONSTR_CHECK:
		l.add(at, RuleConstraintNotValid, "adds column %s with an inline CHECK constraint, which PostgreSQL checks on every row", name)
	case pg.ConstrType_CONSTR_FOREIGN:
		l.add(at, RuleConstraintNotValid, "adds column %s with an inline FOREIGN KEY, which PostgreSQL checks on every row", name)
	default:
		return
	}
	l.tighten(at, table, col, c)
}

// isSerial reports a column declared with a serial type, which takes its default from a new sequence.
func isSerial(def *pg.ColumnDef) bool {
	names := def.GetTypeName().GetNames()
	if len(names) == 0 {
		return false
	}
	switch strings.ToLower(names[len(names)-1].GetString_().GetSval()) {
	case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
		return true
	}
	return false
}

// notNullWithoutDefault reports a column definition that is NOT NULL (or a primary key) and gets no value
// from a default, an identity, a generation expression or a serial type.
func notNullWithoutDefault(def *pg.ColumnDef) bool {
	if isSerial(def) || def.Identity != "" {
		return false
	}
	notNull := def.IsNotNull
	for _, c := range def.Constraints {
		switch c.GetConstraint().GetContype() {
		case pg.ConstrType_CONSTR_NOTNULL, pg.ConstrType_CONSTR_PRIMARY:
			notNull = true
		case pg.ConstrType_CONSTR_DEFAULT, pg.ConstrType_CONSTR_IDENTITY, pg.ConstrType_CONSTR_GENERATED:
			return false
		}
	}
	return notNull
}

func isNullConst(n *pg.Node) bool {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().Arg
	}
	return n.GetAConst().GetIsnull()
}

// volatileFuncs are built-in functions that PostgreSQL declares volatile and that defaults commonly call.
var volatileFuncs = setOf("gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
	"uuidv4", "uuidv7", "random", "random_normal", "clock_timestamp", "timeofday", "nextval", "setval")

// stableFuncs are built-in functions that PostgreSQL declares stable or immutable. A default that calls only
// these is evaluated once when the column is added and stored in the catalog: no rewrite. now() is stable (it
// is the start time of the transaction), so DEFAULT now() is in this list.
var stableFuncs = setOf("now", "transaction_timestamp", "statement_timestamp", "current_setting",
	"current_database", "current_schema", "to_timestamp", "to_date", "to_char", "to_number", "date_trunc",
	"date_part", "extract", "make_date", "make_time", "make_timestamp", "make_timestamptz", "make_interval",
	"timezone", "lower", "upper", "initcap", "length", "char_length", "octet_length", "concat", "concat_ws",
	"btrim", "ltrim", "rtrim", "replace", "substr", "substring", "left", "right", "lpad", "rpad", "md5", "abs",
	"round", "trunc", "floor", "ceil", "ceiling", "jsonb_build_object", "jsonb_build_array", "json_build_object",
	"json_build_array", "to_json", "to_jsonb", "array_fill", "int4range", "int8range", "numrange", "daterange",
	"tsrange", "tstzrange")

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// defaultRisk says why a column default makes ADD COLUMN rewrite the table, or returns "" for a default that
// PostgreSQL 11 and later evaluates once and stores. That takes an expression without volatile functions:
// constants, casts, operators, CURRENT_TIMESTAMP and the like, and calls of stableFuncs. Any other function
// may be volatile, so the lint fails closed on it.
func defaultRisk(expr *pg.Node) string {
	var volatile, unknown string
	walk(expr, func(n *pg.Node) {
		f := n.GetFuncCall()
		if f == nil {
			return
		}
		name, builtin := funcName(f)
		switch {
		case builtin && volatileFuncs[name]:
			if volatile == "" {
				volatile = name + "() is volatile"
			}
		case !builtin || !stableFuncs[name]:
			if unknown == "" {
				unknown = "the lint cannot tell whether " + strings.Join(names(f.Funcname), ".") + "() is volatile"
			}
		}
	})
	if volatile != "" {
		return volatile
	}
	return unknown
}
