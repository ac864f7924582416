SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN nickname text;
-- Ferry runs CREATE/DROP INDEX CONCURRENTLY on their own, outside its transactions.
CREATE INDEX CONCURRENTLY users_nickname_idx ON users (nickname);
-- ANALYZE, unlike VACUUM, runs in a transaction.
ANALYZE users;
