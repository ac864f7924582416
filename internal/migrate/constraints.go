package migrate

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// The old version keeps writing while the expand runs and until the new version replaces it. It writes the
// columns that existed before the expand, and leaves every column the expand added at its default (or NULL).
// A constraint is safe in expand only if those writes pass it. PostgreSQL enforces a constraint added NOT
// VALID on every insert and update at once: NOT VALID skips only the check of the existing rows.

// tighten applies expand/tighten-constraint to a constraint added to table, which existed before the file. col
// is the column for a constraint declared with ADD COLUMN, and "" for a table constraint.
func (l *linter) tighten(at int, table, col string, c *pg.Constraint) {
	if l.res.Phase != PhaseExpand {
		return
	}
	kind := constraintKind(c.Contype)
	if kind == "" {
		return
	}
	if risk := l.constraintRisk(table, col, c); risk != "" {
		if col != "" {
			l.add(at, RuleTightenConstraint, "adds column %s.%s with a %s constraint, which rejects writes of the old version: %s", table, col, kind, risk)
			return
		}
		l.add(at, RuleTightenConstraint, "adds %s constraint %s on %s, which rejects writes of the old version: %s", kind, orUnnamed(c.Conname), table, risk)
	}
}

func constraintKind(t pg.ConstrType) string {
	switch t {
	case pg.ConstrType_CONSTR_CHECK:
		return "CHECK"
	case pg.ConstrType_CONSTR_FOREIGN:
		return "FOREIGN KEY"
	case pg.ConstrType_CONSTR_UNIQUE:
		return "UNIQUE"
	case pg.ConstrType_CONSTR_PRIMARY:
		return "PRIMARY KEY"
	case pg.ConstrType_CONSTR_EXCLUSION:
		return "EXCLUDE"
	case pg.ConstrType_CONSTR_NOTNULL:
		return "NOT NULL"
	}
	return ""
}

// constraintRisk says which write of the old version a constraint may reject, or "" if none.
func (l *linter) constraintRisk(table, col string, c *pg.Constraint) string {
	keys := func(list []*pg.Node) []string {
		if len(list) == 0 && col != "" {
			return []string{col}
		}
		return names(list)
	}
	switch c.Contype {
	case pg.ConstrType_CONSTR_CHECK:
		return l.checkRisk(table, c.RawExpr)
	case pg.ConstrType_CONSTR_NOTNULL:
		for _, k := range keys(c.Keys) {
			if risk := l.notNullRisk(table, k); risk != "" {
				return risk
			}
		}
		return ""
	case pg.ConstrType_CONSTR_FOREIGN:
		return l.columnsRisk(table, keys(c.FkAttrs), defaulted)
	case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_EXCLUSION:
		if c.Indexname != "" {
			return "" // the index enforces it already
		}
		if c.NullsNotDistinct {
			return "NULLS NOT DISTINCT makes the NULLs that the old version's inserts leave collide"
		}
		cols := keys(c.Keys)
		if c.Contype == pg.ConstrType_CONSTR_EXCLUSION {
			cols = exclusionColumns(c.Exclusions)
		}
		return l.columnsRisk(table, cols, repeated)
	case pg.ConstrType_CONSTR_PRIMARY:
		cols := keys(c.Keys)
		if c.Indexname != "" {
			if cols = l.indexCols[c.Indexname]; cols == nil {
				return "the lint cannot tell which columns index " + c.Indexname + " covers, and a PRIMARY KEY makes them NOT NULL"
			}
		}
		return l.columnsRisk(table, cols, notDistinct)
	}
	return ""
}

// A columnTest says why the old version's inserts may break a constraint on a column the file added, or "".
type columnTest func(name string, c column) string

func defaulted(name string, c column) string {
	if c.filled {
		return "the old version's inserts give column " + name + " its default"
	}
	return ""
}

func repeated(name string, c column) string {
	if c.filled && !c.distinct {
		return "the old version's inserts give column " + name + " the same default"
	}
	return ""
}

func notDistinct(name string, c column) string {
	switch {
	case !c.filled:
		return "the old version's inserts leave column " + name + " NULL"
	case !c.distinct:
		return "the old version's inserts give column " + name + " the same default"
	}
	return ""
}

// columnsRisk applies test to each column of a constraint: a column that existed before the file is a risk,
// since the old version writes it.
func (l *linter) columnsRisk(table string, cols []string, test columnTest) string {
	if len(cols) == 0 {
		return "the lint cannot tell which columns it constrains"
	}
	for _, col := range cols {
		name := table + "." + col
		c, added := l.added[table][col]
		if !added {
			return "the old version writes column " + name
		}
		if risk := test(name, c); risk != "" {
			return risk
		}
	}
	return ""
}

// notNullRisk says why making col NOT NULL may reject the old version's writes.
func (l *linter) notNullRisk(table, col string) string {
	name := table + "." + col
	c, added := l.added[table][col]
	switch {
	case !added:
		return "the old version may write NULL to column " + name
	case !c.filled:
		return "the old version's inserts leave column " + name + " NULL"
	}
	return ""
}

// checkRisk says why a CHECK expression may reject the old version's writes. Only columns the file added, left
// NULL by the old version, are safe to check, and only with an expression that passes NULL: the operators and
// strict functions of strictFuncs pass it (NULL is not false), while IS NULL, COALESCE, CASE and the like may
// not.
func (l *linter) checkRisk(table string, expr *pg.Node) string {
	if col := notNullColumn(expr); col != "" {
		return l.notNullRisk(table, col)
	}
	cols := columnRefs(expr)
	if risk := l.columnsRisk(table, cols, defaulted); risk != "" {
		return risk
	}
	if !passesNull(expr) {
		return "the lint cannot tell whether NULL, which the old version's inserts leave in column " + table + "." + cols[0] + ", passes it"
	}
	return ""
}

// strictFuncs are built-in functions that return NULL for a NULL argument.
var strictFuncs = setOf("length", "char_length", "character_length", "octet_length", "lower", "upper", "btrim",
	"ltrim", "rtrim", "abs", "substr", "substring", "left", "right", "similar_to_escape", "array_length",
	"cardinality", "date_part", "extract", "jsonb_typeof", "json_typeof")

// passesNull reports whether a CHECK expression built only of column references, constants, casts, the
// operators that return NULL for NULL, AND, OR, NOT and calls of strictFuncs: it then passes a row whose
// columns are all NULL.
func passesNull(expr *pg.Node) bool {
	ok := true
	walk(expr, func(n *pg.Node) {
		switch v := n.Node.(type) {
		case *pg.Node_ColumnRef, *pg.Node_AConst, *pg.Node_TypeCast, *pg.Node_String_, *pg.Node_Integer,
			*pg.Node_Float, *pg.Node_Boolean, *pg.Node_List, *pg.Node_AArrayExpr, *pg.Node_BoolExpr:
		case *pg.Node_AExpr:
			switch v.AExpr.Kind {
			case pg.A_Expr_Kind_AEXPR_OP, pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL,
				pg.A_Expr_Kind_AEXPR_IN, pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE,
				pg.A_Expr_Kind_AEXPR_SIMILAR, pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN,
				pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
			default:
				ok = false
			}
		case *pg.Node_FuncCall:
			if name, builtin := funcName(v.FuncCall); !builtin || !strictFuncs[name] {
				ok = false
			}
		default:
			ok = false
		}
	})
	return ok
}

// notNullColumn returns col for the expression "col IS NOT NULL", and "" for any other.
func notNullColumn(expr *pg.Node) string {
	t := expr.GetNullTest()
	if t == nil || t.Nulltesttype != pg.NullTestType_IS_NOT_NULL {
		return ""
	}
	fields := t.GetArg().GetColumnRef().GetFields()
	if len(fields) == 0 {
		return ""
	}
	return fields[len(fields)-1].GetString_().GetSval()
}

// exclusionColumns returns the columns of an EXCLUDE constraint's elements.
func exclusionColumns(exclusions []*pg.Node) []string {
	var cols []string
	for _, ex := range exclusions {
		if items := ex.GetList().GetItems(); len(items) > 0 {
			cols = append(cols, indexElemColumns(items[:1])...)
		}
	}
	return cols
}

// indexElemColumns returns the columns of index elements: a column, or the columns of an expression.
func indexElemColumns(elems []*pg.Node) []string {
	var cols []string
	for _, n := range elems {
		e := n.GetIndexElem()
		switch {
		case e == nil:
		case e.Name != "":
			cols = append(cols, e.Name)
		default:
			cols = append(cols, columnRefs(e.Expr)...)
		}
	}
	return cols
}

// uniqueIndex applies expand/tighten-constraint to CREATE UNIQUE INDEX on a table that existed before the
// file: the index rejects duplicates as a UNIQUE constraint does, from the moment its build starts.
func (l *linter) uniqueIndex(at int, s *pg.IndexStmt) {
	if l.res.Phase != PhaseExpand || !s.Unique {
		return
	}
	table := tableName(s.Relation)
	risk := "NULLS NOT DISTINCT makes the NULLs that the old version's inserts leave collide"
	if !s.NullsNotDistinct {
		risk = l.columnsRisk(table, indexElemColumns(s.IndexParams), repeated)
	}
	if risk != "" {
		l.add(at, RuleTightenConstraint, "creates unique index %s on %s, which rejects writes of the old version: %s", orUnnamed(s.Idxname), table, risk)
	}
}
