SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL; -- want: expand/add-column-not-null
