SET lock_timeout = '5s';
DROP INDEX CONCURRENTLY users_legacy_flag_idx;
ALTER TABLE users DROP COLUMN legacy_flag; -- want: contract/irreversible
