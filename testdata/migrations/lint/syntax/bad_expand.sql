SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN nickname text;
ALTER TABLE users ADD COLUMN email_verified boolean DEFAUL false; -- want: syntax
