SET lock_timeout = '5s';
DROP INDEX users_name_idx; -- want: lock/index-concurrently
