package migrate

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Execution is how Ferry's executor runs one statement of a migration file. The executor decides where
// transactions begin and end: it runs each run of statements between two Alone statements in one transaction.
type Execution int

// The ways a statement runs.
const (
	// InTransaction statements run in one transaction with the statements around them.
	InTransaction Execution = iota
	// Alone statements run on their own, outside any transaction: CREATE INDEX CONCURRENTLY and DROP INDEX
	// CONCURRENTLY, which PostgreSQL refuses inside a transaction block.
	Alone
	// Refused statements never succeed: transaction control, for which the executor refuses the whole file,
	// and statements that PostgreSQL refuses inside a transaction block but that the executor does not run
	// alone (VACUUM, REINDEX CONCURRENTLY, DETACH PARTITION CONCURRENTLY, CREATE DATABASE, ...), so that they
	// fail in its transaction.
	Refused
)

// ExecutionOf says how the executor (package internal/postgres) treats stmt, a statement of a parsed file,
// and for a Refused statement, why. The lint's rule exec/transaction flags every Refused statement. It lives
// here so that the executor can split files with the same function: it may import this package, not the
// reverse. It is a pure function of its input.
func ExecutionOf(stmt *pg.Node) (Execution, string) {
	const noBlock = "PostgreSQL refuses it inside a transaction block, and Ferry runs every statement but CREATE/DROP INDEX CONCURRENTLY in one"
	switch n := stmt.GetNode().(type) {
	case *pg.Node_TransactionStmt:
		return Refused, transactionKeyword(n.TransactionStmt.Kind) + " is transaction control: Ferry decides where the file's transactions begin and end"
	case *pg.Node_IndexStmt:
		if n.IndexStmt.Concurrent {
			return Alone, ""
		}
	case *pg.Node_DropStmt:
		if n.DropStmt.Concurrent && n.DropStmt.RemoveType == pg.ObjectType_OBJECT_INDEX {
			return Alone, ""
		}
	case *pg.Node_VacuumStmt:
		if n.VacuumStmt.IsVacuumcmd {
			return Refused, "VACUUM: " + noBlock
		}
	case *pg.Node_ReindexStmt:
		switch {
		case hasOption(n.ReindexStmt.Params, "concurrently"):
			return Refused, "REINDEX CONCURRENTLY: " + noBlock
		case n.ReindexStmt.Kind == pg.ReindexObjectType_REINDEX_OBJECT_SCHEMA,
			n.ReindexStmt.Kind == pg.ReindexObjectType_REINDEX_OBJECT_DATABASE,
			n.ReindexStmt.Kind == pg.ReindexObjectType_REINDEX_OBJECT_SYSTEM:
			return Refused, "REINDEX of a schema, database or system: " + noBlock
		}
	case *pg.Node_ClusterStmt:
		if n.ClusterStmt.Relation == nil {
			return Refused, "CLUSTER without a table: " + noBlock
		}
	case *pg.Node_AlterTableStmt:
		for _, c := range n.AlterTableStmt.Cmds {
			if cmd := c.GetAlterTableCmd(); cmd.GetSubtype() == pg.AlterTableType_AT_DetachPartition && cmd.GetDef().GetPartitionCmd().GetConcurrent() {
				return Refused, "DETACH PARTITION CONCURRENTLY: " + noBlock
			}
		}
	case *pg.Node_AlterDatabaseStmt:
		if hasOption(n.AlterDatabaseStmt.Options, "tablespace") {
			return Refused, "ALTER DATABASE SET TABLESPACE: " + noBlock
		}
	case *pg.Node_DiscardStmt:
		if n.DiscardStmt.Target == pg.DiscardMode_DISCARD_ALL {
			return Refused, "DISCARD ALL: " + noBlock
		}
	case *pg.Node_CreatedbStmt, *pg.Node_DropdbStmt:
		return Refused, "CREATE/DROP DATABASE: " + noBlock
	case *pg.Node_CreateTableSpaceStmt, *pg.Node_DropTableSpaceStmt:
		return Refused, "CREATE/DROP TABLESPACE: " + noBlock
	case *pg.Node_AlterSystemStmt:
		return Refused, "ALTER SYSTEM: " + noBlock
	case *pg.Node_CreateSubscriptionStmt, *pg.Node_AlterSubscriptionStmt, *pg.Node_DropSubscriptionStmt:
		return Refused, "CREATE/ALTER/DROP SUBSCRIPTION: " + noBlock + " in most of its forms"
	}
	return InTransaction, ""
}

// hasOption reports whether a list of DefElem options names opt.
func hasOption(opts []*pg.Node, opt string) bool {
	for _, o := range opts {
		if strings.EqualFold(o.GetDefElem().GetDefname(), opt) {
			return true
		}
	}
	return false
}

func transactionKeyword(k pg.TransactionStmtKind) string {
	switch k {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN:
		return "BEGIN"
	case pg.TransactionStmtKind_TRANS_STMT_START:
		return "START TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return "ROLLBACK"
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE SAVEPOINT"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK TO SAVEPOINT"
	case pg.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "transaction control"
}
