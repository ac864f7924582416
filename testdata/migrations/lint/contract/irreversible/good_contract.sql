-- Tightening a constraint once every version writes the column is reversible.
SET lock_timeout = '5s';
ALTER TABLE users ADD CONSTRAINT users_email_verified_not_null CHECK (email_verified IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_email_verified_not_null;
ALTER TABLE users ALTER COLUMN email_verified SET NOT NULL;
