SET lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN amount_exact numeric(12, 2);
