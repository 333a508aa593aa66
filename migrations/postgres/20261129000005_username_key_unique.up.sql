-- Every account has its key by now (filled before this migration runs):
-- one account per key. NULL stays allowed for the rows the release before
-- this one inserts during a rolling deploy; housekeeping gives them a key.
CREATE UNIQUE INDEX users_username_key_unique ON users (username_key);
