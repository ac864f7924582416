package migrate

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// linter walks the statements of one file in order, keeping what earlier statements established: the
// timeouts in force, the tables, columns and indexes the file created, and the NOT NULL checks.
type linter struct {
	res Result
	sql string
	// created holds the tables and materialized views this file created (CREATE TABLE without IF NOT EXISTS,
	// which may create nothing). No running version uses them, so no expand, data or lock rule applies to
	// statements about them.
	created map[string]bool
	// added maps table → column → what the old version's inserts put there, for the columns the file added to
	// a table that existed before it.
	added map[string]map[string]column
	// indexCols maps the name of an index the file created to its columns.
	indexCols map[string][]string
	timeouts  timeouts
	// stmt is the start of the statement being linted, for messages.
	stmt string
	// checks maps table → CHECK (col IS NOT NULL) constraint added NOT VALID → col.
	checks map[string]map[string]string
	// notNull maps table → columns with a validated CHECK (col IS NOT NULL).
	notNull map[string]map[string]bool
	// nullChecked maps table → columns with any CHECK (col IS NOT NULL), validated or not: PostgreSQL enforces
	// both on writes.
	nullChecked map[string]map[string]bool
}

func newLinter(file, sql string, phase Phase) *linter {
	return &linter{
		res:         Result{File: file, Phase: phase, Findings: []Finding{}},
		sql:         sql,
		created:     map[string]bool{},
		added:       map[string]map[string]column{},
		indexCols:   map[string][]string{},
		checks:      map[string]map[string]string{},
		notNull:     map[string]map[string]bool{},
		nullChecked: map[string]map[string]bool{},
	}
}

// statement applies the rules to one statement.
func (l *linter) statement(raw *pg.RawStmt) {
	at := skipSpace(l.sql, int(raw.StmtLocation))
	end := len(l.sql)
	if raw.StmtLen > 0 {
		end = int(raw.StmtLocation + raw.StmtLen)
	}
	l.stmt = excerpt(l.sql[at:max(at, end)])
	if exec, why := ExecutionOf(raw.Stmt); exec == Refused {
		// The statement can never run through Ferry: no other rule matters.
		l.add(at, RuleTransaction, "%s", why)
		return
	}
	switch n := raw.Stmt.GetNode().(type) {
	case *pg.Node_VariableSetStmt:
		l.set(at, n.VariableSetStmt)
	case *pg.Node_CreateStmt:
		l.createTable(at, n.CreateStmt)
	case *pg.Node_CreateTableAsStmt:
		if s := n.CreateTableAsStmt; !s.IfNotExists {
			l.created[tableName(s.GetInto().GetRel())] = true
		}
	case *pg.Node_AlterTableStmt:
		l.alterTable(at, n.AlterTableStmt)
	case *pg.Node_IndexStmt:
		l.createIndex(at, n.IndexStmt)
	case *pg.Node_DropStmt:
		l.drop(at, n.DropStmt)
	case *pg.Node_DropRoleStmt, *pg.Node_DropOwnedStmt:
		l.dropRoles(at, raw.Stmt)
	case *pg.Node_RenameStmt:
		l.rename(at, n.RenameStmt)
	case *pg.Node_AlterObjectSchemaStmt:
		l.setSchema(at, n.AlterObjectSchemaStmt)
	case *pg.Node_AlterEnumStmt:
		l.alterEnum(at, n.AlterEnumStmt)
	case *pg.Node_AlterDomainStmt:
		l.alterDomain(at, n.AlterDomainStmt)
	case *pg.Node_TruncateStmt:
		l.truncate(at, n.TruncateStmt)
	case *pg.Node_ReindexStmt:
		l.reindex(at, n.ReindexStmt)
	case *pg.Node_ClusterStmt:
		l.cluster(at, n.ClusterStmt)
	case *pg.Node_UpdateStmt, *pg.Node_DeleteStmt, *pg.Node_MergeStmt, *pg.Node_InsertStmt,
		*pg.Node_RefreshMatViewStmt, *pg.Node_DoStmt, *pg.Node_CallStmt:
		l.dataChange(at, raw.Stmt)
	case *pg.Node_SelectStmt:
		l.setConfig(at, n.SelectStmt)
	case *pg.Node_VariableShowStmt, *pg.Node_ExplainStmt, *pg.Node_VacuumStmt,
		*pg.Node_CreateSchemaStmt, *pg.Node_CreateExtensionStmt, *pg.Node_CreateSeqStmt,
		*pg.Node_CreateFunctionStmt, *pg.Node_CreateEnumStmt, *pg.Node_CompositeTypeStmt,
		*pg.Node_CreateDomainStmt:
		// These take no lock that an application's queries wait for (VacuumStmt is ANALYZE here: VACUUM is
		// refused above).
	default:
		// Anything else may lock a table the service uses: triggers, views, comments, grants.
		l.locks(at)
	}
}

// createTable records a new table. CREATE TABLE IF NOT EXISTS may create nothing, and a partition or a child
// table receives the old version's writes to its parent, so neither counts as new.
func (l *linter) createTable(at int, s *pg.CreateStmt) {
	if references(s) || len(s.InhRelations) > 0 {
		l.locks(at)
	}
	if !s.IfNotExists && len(s.InhRelations) == 0 && s.Partbound == nil {
		l.created[tableName(s.Relation)] = true
	}
}

func (l *linter) createIndex(at int, s *pg.IndexStmt) {
	table := tableName(s.Relation)
	if s.Idxname != "" && !s.IfNotExists {
		l.indexCols[s.Idxname] = indexElemColumns(s.IndexParams)
	}
	if l.created[table] {
		return
	}
	l.locks(at)
	if !s.Concurrent {
		l.add(at, RuleIndexConcurrently, "creates index %s on %s without CONCURRENTLY", orUnnamed(s.Idxname), table)
	}
	l.uniqueIndex(at, s)
}

// dataChange applies the rules to a statement whose run time grows with the data.
func (l *linter) dataChange(at int, stmt *pg.Node) {
	l.locks(at)
	var table, what string
	switch n := stmt.Node.(type) {
	case *pg.Node_UpdateStmt:
		table = tableName(n.UpdateStmt.Relation)
		what = "UPDATE of " + table
	case *pg.Node_DeleteStmt:
		table = tableName(n.DeleteStmt.Relation)
		what = "DELETE from " + table
	case *pg.Node_MergeStmt:
		table = tableName(n.MergeStmt.Relation)
		what = "MERGE into " + table
	case *pg.Node_InsertStmt:
		if s := n.InsertStmt.SelectStmt.GetSelectStmt(); s != nil && len(s.ValuesLists) > 0 {
			return // a VALUES list: as long as the file, not the data
		}
		table = tableName(n.InsertStmt.Relation)
		what = "INSERT ... SELECT into " + table
	case *pg.Node_RefreshMatViewStmt:
		table = tableName(n.RefreshMatViewStmt.Relation)
		what = "REFRESH MATERIALIZED VIEW " + table
	case *pg.Node_DoStmt:
		what = "a DO block"
	case *pg.Node_CallStmt:
		what = "CALL " + joinNames(n.CallStmt.GetFunccall().GetFuncname())
	}
	if table != "" && l.created[table] {
		return
	}
	l.runsLong(at, what)
}

// reindex applies the rules to REINDEX INDEX or TABLE without CONCURRENTLY (the other forms are Refused).
func (l *linter) reindex(at int, s *pg.ReindexStmt) {
	name := tableName(s.Relation)
	if s.Kind == pg.ReindexObjectType_REINDEX_OBJECT_TABLE && l.created[name] {
		return
	}
	l.locks(at)
	l.addHint(at, RuleIndexConcurrently,
		"build a replacement with CREATE INDEX CONCURRENTLY and remove the old index with DROP INDEX CONCURRENTLY: REINDEX CONCURRENTLY cannot run in Ferry's transaction",
		"reindexes %s without CONCURRENTLY", name)
}

func (l *linter) cluster(at int, s *pg.ClusterStmt) {
	table := tableName(s.Relation)
	if l.created[table] {
		return
	}
	l.locks(at)
	l.add(at, RuleRewriteTable, "CLUSTER rewrites table %s in index order", table)
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

// excerpt is the start of a statement's text on one line, for a message that names the statement.
func excerpt(sql string) string {
	const limit = 60
	r := []rune(strings.Join(strings.Fields(sql), " "))
	if len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return string(r)
}
