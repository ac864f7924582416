SET lock_timeout = '5s';
CREATE INDEX users_email_idx ON users (email); -- want: lock/index-concurrently
REINDEX INDEX users_name_idx; -- want: lock/index-concurrently
-- IF NOT EXISTS may create nothing: the table may be the one the old version uses.
CREATE TABLE IF NOT EXISTS invites (id bigint, email text);
CREATE INDEX invites_email_idx ON invites (email); -- want: lock/index-concurrently
