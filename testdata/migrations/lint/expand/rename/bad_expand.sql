SET lock_timeout = '5s';
ALTER TABLE users RENAME COLUMN name TO full_name; -- want: expand/rename
ALTER TABLE users -- want: expand/rename
  RENAME TO customers;
-- Applications name constraints: ON CONFLICT ON CONSTRAINT, and the handling of a violation.
ALTER TABLE users RENAME CONSTRAINT users_email_key TO users_email_unique; -- want: expand/rename
ALTER TABLE orders SET SCHEMA billing; -- want: expand/rename
ALTER SCHEMA reporting RENAME TO analytics; -- want: expand/rename
ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled'; -- want: expand/rename
ALTER TYPE order_status RENAME TO order_state; -- want: expand/rename
ALTER FUNCTION normalize_email(text) RENAME TO normalise_email; -- want: expand/rename
ALTER FUNCTION normalize_email(text) SET SCHEMA util; -- want: expand/rename
ALTER SEQUENCE invoice_numbers RENAME TO invoice_seq; -- want: expand/rename
