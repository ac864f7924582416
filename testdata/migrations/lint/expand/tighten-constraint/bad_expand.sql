SET lock_timeout = '5s';
-- NOT VALID skips the check of the rows already there; PostgreSQL enforces the constraint on every new write.
ALTER TABLE orders ADD CONSTRAINT orders_amount_positive CHECK (amount > 0) NOT VALID; -- want: expand/tighten-constraint
ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID; -- want: expand/tighten-constraint
ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID; -- want: expand/tighten-constraint
-- A unique index rejects duplicates from the moment its build starts.
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email); -- want: expand/tighten-constraint
-- The old version's inserts give a new column its default, or leave it NULL.
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';
ALTER TABLE users ADD CONSTRAINT users_plan_known CHECK (plan IN ('free', 'pro')) NOT VALID; -- want: expand/tighten-constraint
ALTER TABLE users ADD COLUMN referrer_id bigint;
ALTER TABLE users ADD CONSTRAINT users_referrer_required CHECK (referrer_id IS NOT NULL) NOT VALID; -- want: expand/tighten-constraint
ALTER TABLE users ADD CONSTRAINT users_referrer_positive CHECK (coalesce(referrer_id, 0) > 0) NOT VALID; -- want: expand/tighten-constraint
-- A domain's constraint applies to every column of the domain.
ALTER DOMAIN email_address ADD CONSTRAINT email_address_has_at CHECK (VALUE LIKE '%@%') NOT VALID; -- want: expand/tighten-constraint
