package migrate

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// linter walks the statements of one file in order, keeping what earlier statements established: the
// lock_timeout in force, the tables the file created, and the validated NOT NULL checks.
type linter struct {
	res Result
	sql string
	// created holds the tables this file created. No running version uses them, so no expand or lock rule
	// applies to statements about them.
	created map[string]bool
	// sessionTimeout is a non-zero lock_timeout set for the session; localTimeout one set with SET LOCAL in the
	// open transaction block, which ends with it.
	sessionTimeout       bool
	localSet, localValue bool
	inBlock              bool
	// timeoutReported is set once lock/timeout fired; a later SET lock_timeout clears it.
	timeoutReported bool
	// checks maps table → CHECK (col IS NOT NULL) constraint added NOT VALID → col.
	checks map[string]map[string]string
	// notNull maps table → columns with a validated CHECK (col IS NOT NULL).
	notNull map[string]map[string]bool
}

// statement applies the rules to one statement.
func (l *linter) statement(raw *pg.RawStmt) {
	at := skipSpace(l.sql, int(raw.StmtLocation))
	switch n := raw.Stmt.GetNode().(type) {
	case *pg.Node_VariableSetStmt:
		l.set(n.VariableSetStmt)
	case *pg.Node_TransactionStmt:
		switch n.TransactionStmt.Kind {
		case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
			l.inBlock = true
		case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK,
			pg.TransactionStmtKind_TRANS_STMT_PREPARE:
			l.inBlock, l.localSet = false, false
		}
	case *pg.Node_CreateStmt:
		if references(n.CreateStmt) {
			l.locks(at)
		}
		l.created[tableName(n.CreateStmt.Relation)] = true
	case *pg.Node_AlterTableStmt:
		l.alterTable(at, n.AlterTableStmt)
	case *pg.Node_IndexStmt:
		table := tableName(n.IndexStmt.Relation)
		if l.created[table] {
			return
		}
		l.locks(at)
		if !n.IndexStmt.Concurrent {
			l.add(at, RuleIndexConcurrently, "creates index %s on %s without CONCURRENTLY", orUnnamed(n.IndexStmt.Idxname), table)
		}
	case *pg.Node_DropStmt:
		l.drop(at, n.DropStmt)
	case *pg.Node_RenameStmt:
		l.rename(at, n.RenameStmt)
	case *pg.Node_TruncateStmt:
		l.locks(at)
		for _, r := range n.TruncateStmt.Relations {
			l.add(at, RuleIrreversible, "truncates %s", tableName(r.GetRangeVar()))
		}
	case *pg.Node_VariableShowStmt, *pg.Node_SelectStmt, *pg.Node_ExplainStmt,
		*pg.Node_CreateSchemaStmt, *pg.Node_CreateExtensionStmt, *pg.Node_CreateSeqStmt,
		*pg.Node_CreateFunctionStmt, *pg.Node_CreateEnumStmt, *pg.Node_CompositeTypeStmt,
		*pg.Node_CreateDomainStmt:
		// These take no lock that an application's queries wait for.
	default:
		// Anything else may lock a table the service uses: DML, DO blocks, triggers, views, comments, grants.
		l.locks(at)
	}
}

// locks is called for every statement that may wait for a table lock; it requires lock_timeout.
func (l *linter) locks(at int) {
	on := l.sessionTimeout
	if l.localSet {
		on = l.localValue
	}
	if on || l.timeoutReported {
		return
	}
	l.timeoutReported = true
	l.add(at, RuleLockTimeout, "this statement takes locks, and lock_timeout is not set before it")
}

// set tracks SET lock_timeout, SET LOCAL lock_timeout and RESET.
func (l *linter) set(s *pg.VariableSetStmt) {
	if s.Kind != pg.VariableSetKind_VAR_RESET_ALL && !strings.EqualFold(s.Name, "lock_timeout") {
		return
	}
	l.timeoutReported = false
	on := s.Kind == pg.VariableSetKind_VAR_SET_VALUE && len(s.Args) == 1 && !isZero(s.Args[0])
	switch {
	case s.IsLocal && !l.inBlock:
		// SET LOCAL outside a transaction block has no effect: PostgreSQL only warns.
	case s.IsLocal:
		l.localSet, l.localValue = true, on
	default:
		l.sessionTimeout, l.localSet = on, false
	}
}

// isZero reports whether a lock_timeout value disables the timeout: 0 in any unit.
func isZero(n *pg.Node) bool {
	c := n.GetAConst()
	if c == nil {
		return false
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return v.Ival.Ival == 0
	case *pg.A_Const_Fval:
		f, err := strconv.ParseFloat(v.Fval.Fval, 64)
		return err == nil && f == 0
	case *pg.A_Const_Sval:
		num := strings.TrimRightFunc(strings.TrimSpace(v.Sval.Sval), func(r rune) bool { return r < '0' || r > '9' })
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		return err == nil && f == 0
	}
	return c.Isnull
}

func (l *linter) alterTable(at int, s *pg.AlterTableStmt) {
	table := tableName(s.Relation)
	fresh := l.created[table]
	if !fresh {
		l.locks(at)
	}
	for _, c := range s.Cmds {
		cmd := c.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pg.AlterTableType_AT_DropColumn:
			if !fresh {
				l.add(at, RuleDropColumn, "drops column %s.%s", table, cmd.Name)
				l.add(at, RuleIrreversible, "drops column %s.%s", table, cmd.Name)
			}
		case pg.AlterTableType_AT_AlterColumnType:
			if !fresh {
				l.add(at, RuleAlterColumnType, "changes the type of column %s.%s", table, cmd.Name)
				l.add(at, RuleIrreversible, "changes the type of column %s.%s", table, cmd.Name)
			}
		case pg.AlterTableType_AT_AddColumn:
			def := cmd.Def.GetColumnDef()
			if def == nil || fresh {
				continue
			}
			if notNullWithoutDefault(def) {
				l.add(at, RuleAddColumnNotNull, "adds column %s.%s NOT NULL without a default", table, def.Colname)
			}
			for _, c := range def.Constraints {
				switch c.GetConstraint().GetContype() {
				case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
					l.add(at, RuleUniqueUsingIndex, "adds column %s.%s with an inline UNIQUE or PRIMARY KEY constraint", table, def.Colname)
				}
			}
		case pg.AlterTableType_AT_SetNotNull:
			if !fresh && !l.notNull[table][cmd.Name] {
				l.add(at, RuleSetNotNull, "sets %s.%s NOT NULL without a validated CHECK (%s IS NOT NULL) before it", table, cmd.Name, cmd.Name)
			}
		case pg.AlterTableType_AT_AddConstraint:
			if con := cmd.Def.GetConstraint(); con != nil {
				l.addConstraint(at, table, fresh, con)
			}
		case pg.AlterTableType_AT_ValidateConstraint:
			if col, ok := l.checks[table][cmd.Name]; ok {
				mark(l.notNull, table, col)
			}
		}
	}
}

func (l *linter) addConstraint(at int, table string, fresh bool, con *pg.Constraint) {
	switch con.Contype {
	case pg.ConstrType_CONSTR_CHECK:
		col := notNullColumn(con.RawExpr)
		switch {
		case col != "" && con.SkipValidation:
			if l.checks[table] == nil {
				l.checks[table] = map[string]string{}
			}
			l.checks[table][con.Conname] = col
		case col != "":
			mark(l.notNull, table, col)
		}
		if !con.SkipValidation && !fresh {
			l.add(at, RuleConstraintNotValid, "adds CHECK constraint %s on %s without NOT VALID", orUnnamed(con.Conname), table)
		}
	case pg.ConstrType_CONSTR_FOREIGN:
		if !con.SkipValidation && !fresh {
			l.add(at, RuleConstraintNotValid, "adds FOREIGN KEY constraint %s on %s without NOT VALID", orUnnamed(con.Conname), table)
		}
	case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
		if con.Indexname == "" && !fresh {
			kind := "UNIQUE"
			if con.Contype == pg.ConstrType_CONSTR_PRIMARY {
				kind = "PRIMARY KEY"
			}
			l.add(at, RuleUniqueUsingIndex, "adds %s constraint %s on %s without USING INDEX", kind, orUnnamed(con.Conname), table)
		}
	}
}

func (l *linter) drop(at int, s *pg.DropStmt) {
	for _, obj := range s.Objects {
		if s.RemoveType != pg.ObjectType_OBJECT_TABLE || !l.created[qualified(obj)] {
			l.locks(at)
			break
		}
	}
	for _, obj := range s.Objects {
		name := qualified(obj)
		switch s.RemoveType {
		case pg.ObjectType_OBJECT_TABLE:
			if !l.created[name] {
				l.add(at, RuleDropTable, "drops table %s", name)
				l.add(at, RuleIrreversible, "drops table %s", name)
			}
		case pg.ObjectType_OBJECT_INDEX:
			if !s.Concurrent {
				l.add(at, RuleIndexConcurrently, "drops index %s without CONCURRENTLY", name)
			}
		}
	}
}

func (l *linter) rename(at int, s *pg.RenameStmt) {
	table := tableName(s.Relation)
	if l.created[table] {
		if s.RenameType == pg.ObjectType_OBJECT_TABLE {
			l.created[newName(s.Relation, s.Newname)] = true
		}
		return
	}
	l.locks(at)
	var what string
	switch s.RenameType {
	case pg.ObjectType_OBJECT_TABLE:
		what = "table " + table
	case pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW:
		what = "view " + table
	case pg.ObjectType_OBJECT_COLUMN:
		what = "column " + table + "." + s.Subname
	default:
		return
	}
	l.add(at, RuleRename, "renames %s to %s", what, s.Newname)
	l.add(at, RuleIrreversible, "renames %s to %s", what, s.Newname)
}

// notNullWithoutDefault reports a column definition that is NOT NULL (or a primary key) and gets no value
// from a default, an identity, a generation expression or a serial type.
func notNullWithoutDefault(def *pg.ColumnDef) bool {
	if names := def.GetTypeName().GetNames(); len(names) > 0 {
		switch strings.ToLower(names[len(names)-1].GetString_().GetSval()) {
		case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
			return false
		}
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

// references reports whether CREATE TABLE declares a foreign key, which locks the referenced table.
func references(s *pg.CreateStmt) bool {
	for _, elt := range s.TableElts {
		if c := elt.GetConstraint(); c != nil && c.Contype == pg.ConstrType_CONSTR_FOREIGN {
			return true
		}
		for _, c := range elt.GetColumnDef().GetConstraints() {
			if c.GetConstraint().GetContype() == pg.ConstrType_CONSTR_FOREIGN {
				return true
			}
		}
	}
	return false
}

func mark(m map[string]map[string]bool, table, col string) {
	if m[table] == nil {
		m[table] = map[string]bool{}
	}
	m[table][col] = true
}

// tableName is a relation as written: "schema.table" or "table". Two spellings of one table (with and without
// its schema) count as different tables.
func tableName(r *pg.RangeVar) string {
	if r == nil {
		return ""
	}
	if r.Schemaname != "" {
		return r.Schemaname + "." + r.Relname
	}
	return r.Relname
}

// newName is the relation r renamed to name, in r's schema.
func newName(r *pg.RangeVar, name string) string {
	if r.Schemaname != "" {
		return r.Schemaname + "." + name
	}
	return name
}

// qualified joins the name parts of a DROP object.
func qualified(obj *pg.Node) string {
	var parts []string
	for _, item := range obj.GetList().GetItems() {
		parts = append(parts, item.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}
