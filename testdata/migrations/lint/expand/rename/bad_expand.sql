SET lock_timeout = '5s';
ALTER TABLE users RENAME COLUMN name TO full_name; -- want: expand/rename
ALTER TABLE users -- want: expand/rename
  RENAME TO customers;
