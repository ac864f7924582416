package migrate

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

func (l *linter) drop(at int, s *pg.DropStmt) {
	fresh := func(obj *pg.Node) bool {
		switch s.RemoveType {
		case pg.ObjectType_OBJECT_TABLE:
			return l.created[objectName(obj)]
		case pg.ObjectType_OBJECT_INDEX:
			_, ok := l.indexCols[lastName(obj)]
			return ok
		}
		return false
	}
	all := true
	for _, obj := range s.Objects {
		all = all && fresh(obj)
	}
	if all {
		return
	}
	l.locks(at)
	kind := kindName(s.RemoveType)
	for _, obj := range s.Objects {
		if fresh(obj) {
			continue
		}
		what := kind + " " + dropName(s.RemoveType, obj)
		switch s.RemoveType {
		case pg.ObjectType_OBJECT_TABLE:
			l.add(at, RuleDropTable, "drops %s", what)
		case pg.ObjectType_OBJECT_INDEX:
			if !s.Concurrent {
				l.add(at, RuleIndexConcurrently, "drops %s without CONCURRENTLY", what)
			}
			l.add(at, RuleDrop, "drops %s, which the old version's queries or ON CONFLICT may need", what)
			continue // an index holds no data and no name that queries use: not irreversible
		default:
			l.add(at, RuleDrop, "drops %s", what)
		}
		l.add(at, RuleIrreversible, "drops %s", what)
	}
	if s.Behavior == pg.DropBehavior_DROP_CASCADE {
		l.add(at, RuleDropCascade, "drops %s with CASCADE", kind+" "+dropName(s.RemoveType, s.Objects[0]))
	}
}

// dropName names one object of a DROP: "name on table" for the objects that belong to a table.
func dropName(t pg.ObjectType, obj *pg.Node) string {
	switch t {
	case pg.ObjectType_OBJECT_TRIGGER, pg.ObjectType_OBJECT_POLICY, pg.ObjectType_OBJECT_RULE:
		if items := names(obj.GetList().GetItems()); len(items) > 1 {
			return items[len(items)-1] + " on " + strings.Join(items[:len(items)-1], ".")
		}
	}
	return objectName(obj)
}

// lastName is the last part of a qualified object name: an index's name without its schema.
func lastName(obj *pg.Node) string {
	if items := names(obj.GetList().GetItems()); len(items) > 0 {
		return items[len(items)-1]
	}
	return objectName(obj)
}

// dropRoles applies the rules to DROP ROLE and DROP OWNED.
func (l *linter) dropRoles(at int, stmt *pg.Node) {
	l.locks(at)
	var what string
	switch n := stmt.Node.(type) {
	case *pg.Node_DropRoleStmt:
		what = "role " + roleNames(n.DropRoleStmt.Roles)
	case *pg.Node_DropOwnedStmt:
		what = "everything owned by " + roleNames(n.DropOwnedStmt.Roles)
	}
	l.add(at, RuleDrop, "drops %s", what)
	l.add(at, RuleIrreversible, "drops %s", what)
}

func roleNames(roles []*pg.Node) string {
	var out []string
	for _, r := range roles {
		out = append(out, orUnnamed(r.GetRoleSpec().GetRolename()))
	}
	return strings.Join(out, ", ")
}

func (l *linter) truncate(at int, s *pg.TruncateStmt) {
	locked := false
	for _, r := range s.Relations {
		table := tableName(r.GetRangeVar())
		if l.created[table] {
			continue
		}
		if !locked {
			l.locks(at)
			locked = true
		}
		cascade := ""
		if s.Behavior == pg.DropBehavior_DROP_CASCADE {
			cascade = ", and with CASCADE every table that references it"
		}
		l.add(at, RuleTruncate, "truncates %s%s", table, cascade)
		l.add(at, RuleIrreversible, "truncates %s", table)
	}
}

func (l *linter) rename(at int, s *pg.RenameStmt) {
	table := tableName(s.Relation)
	if table != "" && l.created[table] {
		if s.RenameType == pg.ObjectType_OBJECT_TABLE {
			l.created[newName(s.Relation, s.Newname)] = true
		}
		return
	}
	l.locks(at)
	what := renamed(s)
	if what == "" {
		return
	}
	l.add(at, RuleRename, "renames %s to %s", what, s.Newname)
	l.add(at, RuleIrreversible, "renames %s to %s", what, s.Newname)
}

// renamed names the object of a RENAME, or returns "" for the objects whose names no query of the service
// writes: indexes, triggers, policies, rules, statistics objects, event triggers, tablespaces.
func renamed(s *pg.RenameStmt) string {
	table := tableName(s.Relation)
	kind := kindName(s.RenameType)
	switch s.RenameType {
	case pg.ObjectType_OBJECT_INDEX, pg.ObjectType_OBJECT_TRIGGER, pg.ObjectType_OBJECT_POLICY,
		pg.ObjectType_OBJECT_RULE, pg.ObjectType_OBJECT_STATISTIC_EXT, pg.ObjectType_OBJECT_EVENT_TRIGGER,
		pg.ObjectType_OBJECT_TABLESPACE:
		return ""
	case pg.ObjectType_OBJECT_COLUMN, pg.ObjectType_OBJECT_ATTRIBUTE:
		return kind + " " + table + "." + s.Subname
	case pg.ObjectType_OBJECT_TABCONSTRAINT:
		// Applications name constraints: ON CONFLICT ON CONSTRAINT, and the handling of a violation by name.
		return "constraint " + s.Subname + " of " + table
	case pg.ObjectType_OBJECT_DOMCONSTRAINT:
		return "constraint " + s.Subname + " of domain " + objectName(s.Object)
	}
	switch {
	case s.Relation != nil:
		return kind + " " + table
	case s.Object != nil:
		return kind + " " + objectName(s.Object)
	}
	return kind + " " + s.Subname // schemas, databases, roles
}

// setSchema applies the rules to ALTER ... SET SCHEMA, which renames the object's qualified name.
func (l *linter) setSchema(at int, s *pg.AlterObjectSchemaStmt) {
	var old, short string
	if s.Relation != nil {
		old, short = tableName(s.Relation), s.Relation.Relname
		if l.created[old] {
			l.created[s.Newschema+"."+short] = true
			return
		}
	} else {
		old = objectName(s.Object)
		short = old[strings.LastIndexByte(old, '.')+1:]
	}
	l.locks(at)
	what := fmt.Sprintf("%s %s to %s.%s (SET SCHEMA)", kindName(s.ObjectType), old, s.Newschema, short)
	l.add(at, RuleRename, "renames %s", what)
	l.add(at, RuleIrreversible, "renames %s", what)
}

// alterEnum applies the rules to ALTER TYPE ... ADD VALUE and RENAME VALUE. Adding a value keeps every
// value the old version writes.
func (l *linter) alterEnum(at int, s *pg.AlterEnumStmt) {
	l.locks(at)
	if s.OldVal == "" {
		return
	}
	what := fmt.Sprintf("value '%s' of enum %s to '%s'", s.OldVal, joinNames(s.TypeName), s.NewVal)
	l.add(at, RuleRename, "renames %s", what)
	l.add(at, RuleIrreversible, "renames %s", what)
}
