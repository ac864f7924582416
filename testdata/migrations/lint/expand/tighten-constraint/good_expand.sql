SET lock_timeout = '5s';
-- The old version's inserts leave the columns this file adds NULL, which passes these constraints.
ALTER TABLE users ADD COLUMN referrer_id bigint;
ALTER TABLE users ADD CONSTRAINT users_referrer_fk FOREIGN KEY (referrer_id) REFERENCES users (id) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_referrer_fk;
ALTER TABLE users ADD COLUMN handle text;
ALTER TABLE users ADD CONSTRAINT users_handle_length CHECK (length(handle) BETWEEN 3 AND 30) NOT VALID;
CREATE UNIQUE INDEX CONCURRENTLY users_handle_key ON users (lower(handle));
-- They give a column its default, which passes a NOT NULL check.
ALTER TABLE users ADD COLUMN verified boolean DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_verified_not_null CHECK (verified IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_verified_not_null;
ALTER TABLE users ALTER COLUMN verified SET NOT NULL;
-- No old version writes to a new table.
CREATE TABLE invites (id bigint PRIMARY KEY, email text NOT NULL UNIQUE CHECK (email LIKE '%@%'));
