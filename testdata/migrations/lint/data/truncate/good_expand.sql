SET lock_timeout = '5s';
-- A table this file created holds nothing a running version needs.
CREATE TABLE import_scratch (line text);
INSERT INTO import_scratch VALUES ('header');
TRUNCATE import_scratch;
