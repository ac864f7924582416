SET lock_timeout = '1d'; -- want: lock/timeout-cap
ALTER TABLE users DROP COLUMN legacy_flag; -- want: contract/irreversible
