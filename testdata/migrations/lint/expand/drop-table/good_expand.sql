SET lock_timeout = '5s';
CREATE TABLE sessions_v2 (id uuid PRIMARY KEY, user_id bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE import_scratch (line text);
DROP TABLE import_scratch;
