DROP INDEX users_username_key_unique;
