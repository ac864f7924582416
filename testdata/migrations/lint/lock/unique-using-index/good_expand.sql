SET lock_timeout = '5s';
-- Adding the column, then its index concurrently, then the constraint, holds no long lock.
ALTER TABLE users ADD COLUMN handle text;
CREATE UNIQUE INDEX CONCURRENTLY users_handle_key ON users (handle);
ALTER TABLE users ADD CONSTRAINT users_handle_key UNIQUE USING INDEX users_handle_key;
