-- Usernames are unique whatever their case or Unicode compatibility form
-- ("Owner", "owner", fullwidth "ｏｗｎｅｒ" are one name): the key is the
-- name NFKC-normalised and lower-cased, which only the application computes
-- (accounts::domain::username_key). This adds the column; the step that
-- runs before the next migration fills it and stops on accounts whose keys
-- clash (accounts::fill_username_keys), and the next migration makes it
-- unique.
ALTER TABLE users ADD COLUMN username_key TEXT;
