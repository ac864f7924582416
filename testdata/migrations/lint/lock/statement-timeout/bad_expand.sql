SET lock_timeout = '5s';
INSERT INTO user_flags (user_id, flag) SELECT id, 'beta' FROM users; -- want: lock/statement-timeout
DO $$ BEGIN PERFORM app.migrate_flags(); END $$;
