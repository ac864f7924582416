package starter

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ferryhq/ferry/internal/spec"
	"github.com/ferryhq/ferry/workflows"
)

// maxSQLFile is the largest migration file MigrationDigests reads; the worker refuses larger ones too.
const maxSQLFile = 1 << 20

// MigrationDigests reads the SQL files of the spec's migrations (each expand, and each contract there is),
// relative to the directory of the spec file at specPath, and returns the hex SHA-256 of each, keyed by
// workflows.MigrationDigestKey: the release pins them (workflows.ReleaseInput.MigrationDigests), so that every
// environment, and the contract days later, runs these bytes or refuses the file. A file that cannot be read
// is an error: a release never starts with SQL it did not pin. A backfill is inline in the spec, which
// SpecDigest covers already.
func MigrationDigests(s spec.Spec, specPath string) (map[string]string, error) {
	if len(s.Migrations) == 0 {
		return nil, nil
	}
	dir := filepath.Dir(specPath)
	out := make(map[string]string)
	for _, m := range s.Migrations {
		files := map[string]string{workflows.DigestExpand: m.Expand}
		if m.Contract != nil {
			files[workflows.DigestContract] = m.Contract.SQL
		}
		for phase, file := range files {
			d, err := fileDigest(dir, file)
			if err != nil {
				return nil, fmt.Errorf("migration %s: %w", m.Name, err)
			}
			out[workflows.MigrationDigestKey(m.Name, phase)] = d
		}
	}
	return out, nil
}

// fileDigest is the hex SHA-256 of file, a path relative to dir of at most maxSQLFile bytes.
func fileDigest(dir, file string) (string, error) {
	if file == "" || filepath.IsAbs(file) {
		return "", fmt.Errorf("%q must be a path relative to the spec's directory", file)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil {
		return "", fmt.Errorf("pin %s: %w", file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSQLFile+1))
	if err != nil {
		return "", fmt.Errorf("pin %s: %w", file, err)
	}
	if len(data) > maxSQLFile {
		return "", fmt.Errorf("pin %s: larger than %d bytes", file, maxSQLFile)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
