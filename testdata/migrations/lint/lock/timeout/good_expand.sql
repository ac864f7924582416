/* Statements that lock no table the service uses may come first. */
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, entry text NOT NULL);
SET lock_timeout TO '3s';
ALTER TABLE users ADD COLUMN nickname text;
SET lock_timeout = 2000;
ALTER TABLE users ADD COLUMN locale text;
SET SESSION lock_timeout = '1.5 s';
ALTER TABLE users ADD COLUMN timezone text;
