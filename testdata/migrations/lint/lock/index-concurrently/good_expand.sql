SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY users_email_idx ON users (email);
-- A new table has no readers to block.
CREATE TABLE invites (id bigint, email text);
CREATE INDEX invites_email_idx ON invites (email);
