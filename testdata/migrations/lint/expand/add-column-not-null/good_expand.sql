SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN nickname text;
ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';
