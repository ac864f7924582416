SET lock_timeout = '5s';
-- Storage parameters change no row.
ALTER TABLE events SET (fillfactor = 90);
-- A table this file created has no readers to block.
CREATE TABLE staging_events (id bigint PRIMARY KEY);
ALTER TABLE staging_events SET LOGGED;
CLUSTER staging_events USING staging_events_pkey;
