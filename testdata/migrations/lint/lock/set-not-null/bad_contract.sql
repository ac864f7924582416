SET lock_timeout = '5s';
ALTER TABLE users ALTER COLUMN email SET NOT NULL; -- want: lock/set-not-null
-- A check that was never validated does not help.
ALTER TABLE users ADD CONSTRAINT users_name_not_null CHECK (name IS NOT NULL) NOT VALID;
ALTER TABLE users ALTER COLUMN name SET NOT NULL; -- want: lock/set-not-null
