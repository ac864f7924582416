SET lock_timeout = '5s';
CREATE TABLE audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, entry text NOT NULL);
ALTER TABLE users ADD COLUMN row_id bigint;
