//go:build !cgo

package migrate

import pg "github.com/pganalyze/pg_query_go/v6"

// parse fails: without cgo there is no PostgreSQL parser.
func parse(string) ([]*pg.RawStmt, error) { return nil, ErrNoParser }
