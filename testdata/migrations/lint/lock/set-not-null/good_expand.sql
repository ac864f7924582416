SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';
ALTER TABLE users ADD CONSTRAINT users_plan_not_null CHECK (plan IS NOT NULL) NOT VALID;
ALTER TABLE users VALIDATE CONSTRAINT users_plan_not_null;
ALTER TABLE users ALTER COLUMN plan SET NOT NULL;
