SET lock_timeout = '5s';
ALTER TABLE events SET LOGGED; -- want: rewrite/table
ALTER TABLE events SET TABLESPACE fast_disks; -- want: rewrite/table
CLUSTER events USING events_created_at_idx; -- want: rewrite/table
