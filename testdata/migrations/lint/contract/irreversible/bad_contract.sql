SET lock_timeout = '5s';
ALTER TABLE users DROP COLUMN legacy_flag; -- want: contract/irreversible
DROP TABLE sessions_v1; -- want: contract/irreversible
ALTER TABLE users RENAME COLUMN full_name TO name; -- want: contract/irreversible
DROP VIEW active_users_v1; -- want: contract/irreversible
DROP FUNCTION legacy_hash(text); -- want: contract/irreversible
ALTER TYPE order_status RENAME VALUE 'canceled' TO 'cancelled'; -- want: contract/irreversible
