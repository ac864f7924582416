SET lock_timeout = '5s';
START TRANSACTION; -- want: exec/transaction
ALTER TABLE users DROP COLUMN legacy_flag; -- want: contract/irreversible
ROLLBACK; -- want: exec/transaction
ALTER SYSTEM SET lock_timeout = '5s'; -- want: exec/transaction
