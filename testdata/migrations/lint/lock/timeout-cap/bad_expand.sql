SET lock_timeout = '1h'; -- want: lock/timeout-cap
ALTER TABLE users ADD COLUMN nickname text;
SET lock_timeout = 60000; -- want: lock/timeout-cap
SET lock_timeout = '10.5s'; -- want: lock/timeout-cap
SET LOCAL lock_timeout = '1min'; -- want: lock/timeout-cap
-- set_config is a SET by another name.
SELECT set_config('lock_timeout', '30s', false); -- want: lock/timeout-cap
