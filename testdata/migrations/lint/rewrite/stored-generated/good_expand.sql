SET lock_timeout = '5s';
CREATE TABLE invoices (amount numeric, tax numeric, total numeric GENERATED ALWAYS AS (amount + tax) STORED);
-- A plain column, kept filled by a trigger for new rows and by the backfill for old ones.
ALTER TABLE orders ADD COLUMN total numeric;
