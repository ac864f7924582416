SET lock_timeout = '5s';
-- PostgreSQL evaluates a constant or stable default once and stores it: no rewrite. now() is stable.
ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE users ADD COLUMN updated_at timestamptz DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE users ADD COLUMN trial_ends_at timestamptz DEFAULT now() + interval '30 days';
ALTER TABLE users ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE users ADD COLUMN locale text DEFAULT 'en';
-- A default set after the column exists applies to new rows only.
ALTER TABLE users ADD COLUMN public_id uuid;
ALTER TABLE users ALTER COLUMN public_id SET DEFAULT gen_random_uuid();
