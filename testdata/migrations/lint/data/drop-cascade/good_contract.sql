SET lock_timeout = '5s';
-- Each dependent object by name, then the table.
DROP VIEW active_sessions_v1; -- want: contract/irreversible
ALTER TABLE session_events DROP CONSTRAINT session_events_session_fk;
DROP TABLE sessions_v1; -- want: contract/irreversible
