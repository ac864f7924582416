SET lock_timeout = '5s';
ALTER TABLE users DROP COLUMN legacy_flag; -- want: contract/irreversible
DROP TABLE sessions_v1; -- want: contract/irreversible
ALTER TABLE users RENAME COLUMN full_name TO name; -- want: contract/irreversible
