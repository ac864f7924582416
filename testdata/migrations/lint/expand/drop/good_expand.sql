SET lock_timeout = '5s';
-- What this file created is not used by any running version yet.
CREATE TABLE import_scratch (line text);
CREATE INDEX import_scratch_line_idx ON import_scratch (line);
DROP INDEX CONCURRENTLY import_scratch_line_idx;
DROP TABLE import_scratch;
-- A constraint dropped and added again by name in one statement is replaced, not removed.
ALTER TABLE users ADD COLUMN handle text;
ALTER TABLE users ADD CONSTRAINT users_handle_length CHECK (length(handle) <= 30) NOT VALID;
ALTER TABLE users DROP CONSTRAINT users_handle_length, ADD CONSTRAINT users_handle_length CHECK (length(handle) <= 40) NOT VALID;
ALTER TABLE users ALTER COLUMN status SET DEFAULT 'active';
