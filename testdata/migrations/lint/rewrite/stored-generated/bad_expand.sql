SET lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN total numeric GENERATED ALWAYS AS (amount + tax) STORED; -- want: rewrite/stored-generated
