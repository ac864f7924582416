SET lock_timeout = '5s';
ALTER TABLE orders ADD COLUMN discount numeric;
ALTER TABLE orders ADD CONSTRAINT orders_discount_positive CHECK (discount >= 0) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_discount_positive;
ALTER TABLE orders ADD COLUMN coupon_id bigint;
ALTER TABLE orders ADD CONSTRAINT orders_coupon_fk FOREIGN KEY (coupon_id) REFERENCES coupons (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_coupon_fk;
