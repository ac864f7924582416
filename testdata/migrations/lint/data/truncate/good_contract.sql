-- A table that only older versions used is retired whole.
SET lock_timeout = '5s';
DROP TABLE sessions_v1; -- want: contract/irreversible
