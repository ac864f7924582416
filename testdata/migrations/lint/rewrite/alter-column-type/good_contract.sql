-- The expand added amount_exact and the backfill filled it; the contract drops the old column.
SET lock_timeout = '5s';
ALTER TABLE orders DROP COLUMN amount; -- want: contract/irreversible
