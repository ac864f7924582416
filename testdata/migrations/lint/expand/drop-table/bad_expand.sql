SET lock_timeout = '5s';
DROP TABLE IF EXISTS sessions_v1; -- want: expand/drop-table
