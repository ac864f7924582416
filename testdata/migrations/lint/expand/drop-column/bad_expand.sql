SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN email_verified boolean;
ALTER TABLE users DROP COLUMN legacy_flag; -- want: expand/drop-column
