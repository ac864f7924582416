ALTER TABLE users DROP COLUMN legacy_flag; -- want: lock/timeout, contract/irreversible
