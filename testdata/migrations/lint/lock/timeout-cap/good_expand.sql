SET lock_timeout = '10s';
ALTER TABLE users ADD COLUMN nickname text;
SET lock_timeout = 500;
ALTER TABLE users ADD COLUMN locale text;
SET lock_timeout = '10000ms';
