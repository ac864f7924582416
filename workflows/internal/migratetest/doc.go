// Package migratetest runs the expand-contract sequence on the embedded Temporal server and a real PostgreSQL
// cluster: two releases, the backfill, and the Contract workflow through minAge and an approval.
package migratetest
