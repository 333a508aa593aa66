-- Pictures of guests: a fediverse writer's avatar, copied into the media
-- store (src/features/federation/pictures.rs) so pages show only images of
-- this site.
ALTER TABLE comments ADD COLUMN guest_image TEXT;
-- Our copy of a remote actor's avatar (`icon`, an address of this site) and
-- the address it was copied from; the actor that moved to another account
-- (`Move`), where it went.
ALTER TABLE remote_actors ADD COLUMN icon TEXT;
ALTER TABLE remote_actors ADD COLUMN icon_from TEXT;
ALTER TABLE remote_actors ADD COLUMN moved_to TEXT;
-- An author's other accounts (`alsoKnownAs`) and the account they moved to,
-- as JSON (`federation::moves::Movement`); the blog's is in `settings`.
ALTER TABLE users ADD COLUMN ap_movement TEXT;
