-- The timeout comes too late, and RESET turns it off again.
ALTER TABLE users ADD COLUMN nickname text; -- want: lock/timeout
SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN avatar_url text;
RESET lock_timeout;
CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname); -- want: lock/timeout
SET lock_timeout = 0;
ALTER TABLE users ADD COLUMN bio text; -- want: lock/timeout
-- SET LOCAL lasts until the end of a transaction whose bounds the file does not show: it does not count.
SET LOCAL lock_timeout = '2s';
ALTER TABLE users ADD COLUMN locale text; -- want: lock/timeout
SELECT set_config('lock_timeout', '5s', false);
ALTER TABLE users ADD COLUMN country text;
SELECT set_config('lock_timeout', '0', false);
ALTER TABLE users ADD COLUMN region text; -- want: lock/timeout
