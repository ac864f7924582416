SET lock_timeout = '5s';
SET statement_timeout = '30s';
UPDATE settings SET value = 'on' WHERE key = 'new_checkout';
DO $$ BEGIN PERFORM app.migrate_flags(); END $$;
-- A VALUES list lasts as long as the file, whatever the data.
SET statement_timeout = 0;
INSERT INTO plans (name) VALUES ('pro');
CREATE INDEX CONCURRENTLY users_plan_idx ON users (plan);
-- A table this file created has no readers to block.
CREATE TABLE plan_history (user_id bigint, plan text);
INSERT INTO plan_history SELECT id, plan FROM users;
