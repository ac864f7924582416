SET lock_timeout = '5s';
-- A new table has no rows to fill.
CREATE TABLE audit_log (id bigserial PRIMARY KEY, entry text NOT NULL);
-- A default set after the column exists applies to new rows only; the backfill fills the old ones.
ALTER TABLE users ADD COLUMN seq bigint;
CREATE SEQUENCE users_seq_seq;
ALTER TABLE users ALTER COLUMN seq SET DEFAULT nextval('users_seq_seq');
