SET lock_timeout = '5s';
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12, 2); -- want: rewrite/alter-column-type, contract/irreversible
