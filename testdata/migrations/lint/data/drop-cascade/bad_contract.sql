SET lock_timeout = '5s';
DROP TABLE sessions_v1 CASCADE; -- want: contract/irreversible, data/drop-cascade
ALTER TABLE users DROP COLUMN legacy_flag CASCADE; -- want: data/drop-cascade, contract/irreversible
DROP SCHEMA reporting_v1 CASCADE; -- want: contract/irreversible, data/drop-cascade
