SET lock_timeout = '5s';
ALTER TABLE users ADD COLUMN seq bigserial; -- want: rewrite/serial
ALTER TABLE order_lines ADD COLUMN line_no serial NOT NULL; -- want: rewrite/serial
