//go:build cgo

package postgres

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/ferryhq/ferry/internal/migrate"
)

// split parses sql with PostgreSQL's parser and returns its statements in order. It judges each statement as
// the lint's rule exec/transaction does (migrate.ExecutionOf): a statement that can never succeed here
// (transaction control, or one PostgreSQL refuses inside a transaction block) is a *RefusedStatementError, and
// one that must run alone (CREATE/DROP INDEX CONCURRENTLY) runs outside the file's transactions.
func split(sql string) ([]statement, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var out []statement
	for _, raw := range tree.Stmts {
		start, end := int(raw.StmtLocation), len(sql)
		if raw.StmtLen > 0 {
			end = start + int(raw.StmtLen)
		}
		s := statement{sql: strings.TrimSpace(sql[start:end])}
		exec, why := migrate.ExecutionOf(raw.Stmt)
		if exec == migrate.Refused {
			return nil, &RefusedStatementError{Statement: s.sql, Why: why}
		}
		s.concurrently = exec == migrate.Alone
		switch n := raw.Stmt.GetNode().(type) {
		case *pg.Node_IndexStmt:
			if n.IndexStmt.Concurrent {
				if n.IndexStmt.Idxname != "" {
					s.index = qualify(n.IndexStmt.Relation.GetSchemaname(), n.IndexStmt.Idxname)
					s.create = true
				}
			}
		case *pg.Node_DropStmt:
			if n.DropStmt.Concurrent && n.DropStmt.RemoveType == pg.ObjectType_OBJECT_INDEX {
				if objs := n.DropStmt.Objects; len(objs) == 1 {
					var parts []string
					for _, item := range objs[0].GetList().GetItems() {
						parts = append(parts, item.GetString_().GetSval())
					}
					if len(parts) == 2 {
						s.index = qualify(parts[0], parts[1])
					} else if len(parts) == 1 {
						s.index = qualify("", parts[0])
					}
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}
