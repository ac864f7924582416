-- The old column stays until the contract migration; only the new one is added.
SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN email_verified boolean;
-- A table this file created is not used by any running version yet.
CREATE TABLE user_flags (user_id bigint, flag text, scratch text);
ALTER TABLE user_flags DROP COLUMN scratch;
