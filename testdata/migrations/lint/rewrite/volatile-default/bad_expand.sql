SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN public_id uuid DEFAULT gen_random_uuid(); -- want: rewrite/volatile-default
ALTER TABLE users ADD COLUMN seen_at timestamptz NOT NULL DEFAULT clock_timestamp(); -- want: rewrite/volatile-default
ALTER TABLE users ADD COLUMN bucket int DEFAULT floor(random() * 100); -- want: rewrite/volatile-default
-- A function the lint does not know may be volatile.
ALTER TABLE users ADD COLUMN token text DEFAULT app.new_token(); -- want: rewrite/volatile-default
