SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN full_name text;
-- Renaming a constraint does not change what queries see.
ALTER TABLE users RENAME CONSTRAINT users_name_check TO users_full_name_check;
CREATE TABLE customer_notes_draft (id bigint);
ALTER TABLE customer_notes_draft RENAME TO customer_notes;
ALTER TABLE customer_notes ADD COLUMN body text NOT NULL;
