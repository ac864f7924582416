SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';
ALTER TABLE users ALTER COLUMN plan SET NOT NULL; -- want: lock/set-not-null
