SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN full_name text;
-- No query names an index or a trigger.
ALTER INDEX users_name_idx RENAME TO users_full_name_idx;
ALTER TRIGGER users_touch ON users RENAME TO users_set_updated_at;
-- A new enum value keeps every value the old version writes.
ALTER TYPE order_status ADD VALUE 'refunded';
CREATE TABLE customer_notes_draft (id bigint);
ALTER TABLE customer_notes_draft RENAME TO customer_notes;
ALTER TABLE customer_notes ADD COLUMN body text NOT NULL;
