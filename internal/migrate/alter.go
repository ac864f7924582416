package migrate

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

func (l *linter) alterTable(at int, s *pg.AlterTableStmt) {
	table := tableName(s.Relation)
	if l.created[table] {
		return
	}
	l.locks(at)
	// A constraint dropped and added again by name in one statement is replaced, not removed: the swap of a
	// primary key onto a new index, for one.
	readded := map[string]bool{}
	for _, c := range s.Cmds {
		if cmd := c.GetAlterTableCmd(); cmd.GetSubtype() == pg.AlterTableType_AT_AddConstraint {
			readded[cmd.GetDef().GetConstraint().GetConname()] = true
		}
	}
	for _, c := range s.Cmds {
		if cmd := c.GetAlterTableCmd(); cmd != nil {
			l.alterTableCmd(at, table, cmd, readded)
		}
	}
}

func (l *linter) alterTableCmd(at int, table string, cmd *pg.AlterTableCmd, readded map[string]bool) {
	col := table + "." + cmd.Name
	if cmd.Behavior == pg.DropBehavior_DROP_CASCADE {
		switch cmd.Subtype {
		case pg.AlterTableType_AT_DropColumn:
			l.add(at, RuleDropCascade, "drops column %s with CASCADE", col)
		case pg.AlterTableType_AT_DropConstraint:
			l.add(at, RuleDropCascade, "drops constraint %s of %s with CASCADE", cmd.Name, table)
		}
	}
	switch cmd.Subtype {
	case pg.AlterTableType_AT_AddColumn:
		if def := cmd.Def.GetColumnDef(); def != nil {
			l.addColumn(at, table, def)
		}
	case pg.AlterTableType_AT_DropColumn:
		l.add(at, RuleDropColumn, "drops column %s", col)
		l.add(at, RuleIrreversible, "drops column %s", col)
	case pg.AlterTableType_AT_AlterColumnType:
		l.add(at, RuleAlterColumnType, "changes the type of column %s", col)
		l.add(at, RuleRewriteColumnType, "changes the type of column %s, which rewrites the table", col)
		l.add(at, RuleIrreversible, "changes the type of column %s", col)
	case pg.AlterTableType_AT_SetNotNull:
		l.setNotNull(at, table, cmd.Name)
	case pg.AlterTableType_AT_AddConstraint:
		if con := cmd.Def.GetConstraint(); con != nil {
			l.addConstraint(at, table, con)
		}
	case pg.AlterTableType_AT_ValidateConstraint:
		if c, ok := l.checks[table][cmd.Name]; ok {
			mark(l.notNull, table, c)
		}
	case pg.AlterTableType_AT_DropConstraint:
		if !readded[cmd.Name] {
			l.add(at, RuleDrop, "drops constraint %s of %s", cmd.Name, table)
		}
	case pg.AlterTableType_AT_ColumnDefault:
		if cmd.Def == nil {
			l.add(at, RuleDrop, "drops the default of column %s: the old version's inserts get NULL instead", col)
		}
	case pg.AlterTableType_AT_DropIdentity:
		l.add(at, RuleDrop, "drops the identity of column %s: the old version's inserts get NULL instead", col)
	case pg.AlterTableType_AT_DropExpression:
		l.add(at, RuleDrop, "drops the generation expression of column %s: new rows get NULL instead", col)
	case pg.AlterTableType_AT_DetachPartition:
		l.add(at, RuleDrop, "detaches partition %s from %s: its rows leave %s", tableName(cmd.Def.GetPartitionCmd().GetName()), table, table)
	case pg.AlterTableType_AT_DropInherit:
		parent := tableName(cmd.Def.GetRangeVar())
		l.add(at, RuleDrop, "detaches %s from its parent %s: its rows leave %s", table, parent, parent)
	default:
		if what := rewrites(cmd); what != "" {
			l.add(at, RuleRewriteTable, "%s rewrites %s", what, table)
		}
	}
}

// rewrites names an ALTER TABLE subcommand that rewrites the whole table, and returns "" for any other.
func rewrites(cmd *pg.AlterTableCmd) string {
	switch cmd.Subtype {
	case pg.AlterTableType_AT_SetLogged:
		return "SET LOGGED"
	case pg.AlterTableType_AT_SetUnLogged:
		return "SET UNLOGGED"
	case pg.AlterTableType_AT_SetTableSpace:
		return "SET TABLESPACE"
	case pg.AlterTableType_AT_SetAccessMethod:
		return "SET ACCESS METHOD"
	case pg.AlterTableType_AT_SetExpression:
		return "SET EXPRESSION of column " + cmd.Name
	}
	return ""
}

func (l *linter) setNotNull(at int, table, col string) {
	if !l.notNull[table][col] {
		l.add(at, RuleSetNotNull, "sets %s.%s NOT NULL without a validated CHECK (%s IS NOT NULL) before it", table, col, col)
	}
	if l.nullChecked[table][col] {
		return // the CHECK already rejects what NOT NULL would, and was judged when it was added
	}
	if risk := l.notNullRisk(table, col); risk != "" && l.res.Phase == PhaseExpand {
		l.add(at, RuleTightenConstraint, "sets %s.%s NOT NULL, which rejects writes of the old version: %s", table, col, risk)
	}
}

func (l *linter) addConstraint(at int, table string, con *pg.Constraint) {
	switch con.Contype {
	case pg.ConstrType_CONSTR_CHECK:
		if col := notNullColumn(con.RawExpr); col != "" {
			mark(l.nullChecked, table, col)
			if con.SkipValidation {
				if l.checks[table] == nil {
					l.checks[table] = map[string]string{}
				}
				l.checks[table][con.Conname] = col
			} else {
				mark(l.notNull, table, col)
			}
		}
		if !con.SkipValidation {
			l.add(at, RuleConstraintNotValid, "adds CHECK constraint %s on %s without NOT VALID", orUnnamed(con.Conname), table)
		}
	case pg.ConstrType_CONSTR_FOREIGN:
		if !con.SkipValidation {
			l.add(at, RuleConstraintNotValid, "adds FOREIGN KEY constraint %s on %s without NOT VALID", orUnnamed(con.Conname), table)
		}
	case pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_PRIMARY:
		if con.Indexname == "" {
			l.add(at, RuleUniqueUsingIndex, "adds %s constraint %s on %s without USING INDEX", constraintKind(con.Contype), orUnnamed(con.Conname), table)
		}
	}
	l.tighten(at, table, "", con)
}

// alterDomain applies the rules to ALTER DOMAIN: a domain's constraint applies to every column of its type,
// in every table, which the old version writes.
func (l *linter) alterDomain(at int, s *pg.AlterDomainStmt) {
	l.locks(at)
	domain := joinNames(s.TypeName)
	switch s.Subtype {
	case "C": // ADD CONSTRAINT
		con := s.Def.GetConstraint()
		if !con.GetSkipValidation() {
			l.add(at, RuleConstraintNotValid, "adds constraint %s to domain %s without NOT VALID: PostgreSQL checks every column of the domain", orUnnamed(con.GetConname()), domain)
		}
		l.add(at, RuleTightenConstraint, "adds constraint %s to domain %s, which rejects writes of the old version to every column of the domain", orUnnamed(con.GetConname()), domain)
	case "O": // SET NOT NULL
		l.addHint(at, RuleSetNotNull, "put the constraint on the columns instead: CHECK (col IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT",
			"sets domain %s NOT NULL, which scans every column of the domain", domain)
		l.add(at, RuleTightenConstraint, "sets domain %s NOT NULL, which rejects writes of NULL by the old version to every column of the domain", domain)
	case "X": // DROP CONSTRAINT
		l.add(at, RuleDrop, "drops constraint %s of domain %s", s.Name, domain)
	case "T": // SET DEFAULT, or DROP DEFAULT without a Def
		if s.Def == nil {
			l.add(at, RuleDrop, "drops the default of domain %s: the old version's inserts get NULL instead", domain)
		}
	}
}
