SET lock_timeout = '5s';
UPDATE users SET plan = 'free' WHERE plan IS NULL; -- want: lock/statement-timeout
SET statement_timeout = '5min';
DELETE FROM sessions WHERE expires_at < now(); -- want: lock/statement-timeout
SET statement_timeout = '30s';
-- SET LOCAL cannot prove a timeout, and can raise it past the cap.
SET LOCAL statement_timeout = '2h';
REFRESH MATERIALIZED VIEW daily_totals; -- want: lock/statement-timeout
