SET lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN discount numeric;
ALTER TABLE orders ADD CONSTRAINT orders_discount_positive CHECK (discount >= 0); -- want: lock/constraint-not-valid
-- A constraint declared with the column is checked on every row too.
ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id); -- want: lock/constraint-not-valid
ALTER TABLE orders ADD COLUMN gift_note text CHECK (length(gift_note) < 500); -- want: lock/constraint-not-valid
