//go:build !cgo

package postgres

import "github.com/ferryhq/ferry/internal/migrate"

// split fails: without cgo there is no PostgreSQL parser to find where statements end.
func split(string) ([]statement, error) { return nil, migrate.ErrNoParser }
