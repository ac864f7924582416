SET lock_timeout = '5s';
CREATE INDEX users_email_idx ON users (email); -- want: lock/index-concurrently
DROP INDEX users_name_idx; -- want: lock/index-concurrently
