SET lock_timeout = '5s';
DROP INDEX CONCURRENTLY users_name_idx;
