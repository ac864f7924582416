SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN email_verified boolean;
ALTER TABLE users DROP COLUMN legacy_flag; -- want: expand/drop-column
-- IF NOT EXISTS may create nothing: the table may be the one the old version uses.
CREATE TABLE IF NOT EXISTS sessions (id uuid PRIMARY KEY, user_id bigint, token text);
ALTER TABLE sessions DROP COLUMN token; -- want: expand/drop-column
