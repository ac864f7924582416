//go:build cgo

package migrate

import (
	"errors"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// parse splits sql into statements with PostgreSQL's parser. A syntax error is a *syntaxError.
func parse(sql string) ([]*pg.RawStmt, error) {
	tree, err := pg.Parse(sql)
	var perr *parser.Error
	if errors.As(err, &perr) {
		// Cursorpos counts characters from 1; 0 means the parser gave no position.
		offset := 0
		if perr.Cursorpos > 0 {
			offset = byteOffset(sql, perr.Cursorpos-1)
		}
		return nil, &syntaxError{message: perr.Message, offset: offset}
	}
	if err != nil {
		return nil, err
	}
	return tree.Stmts, nil
}
