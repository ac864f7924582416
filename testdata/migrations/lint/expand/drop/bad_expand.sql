SET lock_timeout = '5s';
DROP VIEW active_users; -- want: expand/drop
DROP FUNCTION normalize_email(text); -- want: expand/drop
DROP TYPE IF EXISTS order_status; -- want: expand/drop
DROP SEQUENCE invoice_numbers; -- want: expand/drop
DROP TRIGGER users_touch ON users; -- want: expand/drop
DROP SCHEMA reporting; -- want: expand/drop
DROP ROLE reporting_reader; -- want: expand/drop
-- The old version's queries may need an index, and its INSERT ... ON CONFLICT a unique one.
DROP INDEX CONCURRENTLY users_name_idx; -- want: expand/drop
ALTER TABLE users DROP CONSTRAINT users_email_key; -- want: expand/drop
-- The old version's inserts rely on the default.
ALTER TABLE users ALTER COLUMN status DROP DEFAULT; -- want: expand/drop
