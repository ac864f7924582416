-- Ferry runs the statements between CREATE/DROP INDEX CONCURRENTLY in one transaction of its own.
SET lock_timeout = '5s';
BEGIN; -- want: exec/transaction
ALTER TABLE users ADD COLUMN nickname text;
SAVEPOINT before_locale; -- want: exec/transaction
ALTER TABLE users ADD COLUMN locale text;
COMMIT; -- want: exec/transaction
-- PostgreSQL refuses these inside a transaction block.
VACUUM FULL users; -- want: exec/transaction
REINDEX INDEX CONCURRENTLY users_email_idx; -- want: exec/transaction
ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY; -- want: exec/transaction
