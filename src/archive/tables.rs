//! What a site archive holds: every table that is the site's data, its
//! columns and their kinds, in an order that inserts each row after the
//! rows it refers to. A test (`tests/it/archive.rs`) holds this list to
//! the database's own: a migration that adds a table or a column fails it
//! until the archive says what to do with it.

/// How a column's values are written in the archive and bound again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer (`BIGINT`).
    Int,
    /// A 32-bit integer (`INTEGER` on PostgreSQL): bound as such.
    Int4,
    Text,
    Bool,
    /// A time, RFC 3339 in UTC.
    Time,
}

use Kind::*;

pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The columns that order the rows, a key of the table: the same
    /// archive from the same data on either database.
    pub key: &'static [&'static str],
    /// Its `id` is generated (an identity on PostgreSQL, whose sequence
    /// must move past the ids an import brings).
    pub identity: bool,
}

impl Table {
    pub fn kind(&self, column: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, kind)| *kind)
    }
}

const fn table(
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
) -> Table {
    Table {
        name,
        columns,
        key,
        identity: false,
    }
}

const fn with_id(name: &'static str, columns: &'static [(&'static str, Kind)]) -> Table {
    Table {
        name,
        columns,
        key: &["id"],
        identity: true,
    }
}

/// Every table an archive carries, each after the tables it refers to.
pub const TABLES: &[Table] = &[
    with_id(
        "users",
        &[
            ("id", Int),
            ("username", Text),
            ("email", Text),
            ("password_hash", Text),
            ("bio", Text),
            ("image", Text),
            ("role", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("deleted_at", Time),
            ("notify_replies", Bool),
            ("username_key", Text),
            ("time_zone", Text),
            // The author's ActivityPub key pair: followers elsewhere know
            // the public key, so a moved site must sign with the same.
            ("ap_public_key", Text),
            ("ap_private_key", Text),
            ("ap_approves_followers", Bool),
            ("ap_movement", Text),
        ],
    ),
    with_id("tags", &[("id", Int), ("name", Text)]),
    with_id(
        "posts",
        &[
            ("id", Int),
            ("author_id", Int),
            ("slug", Text),
            ("title", Text),
            ("description", Text),
            ("body", Text),
            ("status", Text),
            ("published_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
            ("edited_at", Time),
            ("body_html", Text),
            ("body_html_version", Int4),
            ("search_text", Text),
            ("search_tags", Text),
            ("preview_token", Text),
            ("email_subscribers", Bool),
        ],
    ),
    table(
        "post_tags",
        &[("post_id", Int), ("tag_id", Int), ("position", Int)],
        &["post_id", "tag_id"],
    ),
    with_id(
        "comments",
        &[
            ("id", Int),
            ("post_id", Int),
            ("author_id", Int),
            ("body", Text),
            ("created_at", Time),
            ("updated_at", Time),
            ("body_html", Text),
            ("body_html_version", Int4),
            // A reply's parent has a smaller id: replies are written after
            // what they answer, so rows in id order insert.
            ("parent_id", Int),
            ("guest_name", Text),
            ("guest_url", Text),
            ("guest_image", Text),
        ],
    ),
    table(
        "reactions",
        &[
            ("post_id", Int),
            ("user_id", Int),
            ("kind", Text),
            ("created_at", Time),
        ],
        &["post_id", "user_id", "kind"],
    ),
    table(
        "follows",
        &[
            ("follower_id", Int),
            ("followee_id", Int),
            ("created_at", Time),
        ],
        &["follower_id", "followee_id"],
    ),
    with_id(
        "pages",
        &[
            ("id", Int),
            ("slug", Text),
            ("title", Text),
            ("body", Text),
            ("body_html", Text),
            ("body_html_version", Int4),
            ("position", Int),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    ),
    table(
        "media",
        &[
            ("name", Text),
            ("content_type", Text),
            ("bytes", Int),
            ("width", Int),
            ("height", Int),
            ("variants", Text),
            ("created_at", Time),
            ("touched_at", Time),
        ],
        &["name"],
    ),
    with_id(
        "uploads",
        &[
            ("id", Int),
            ("user_id", Int),
            ("name", Text),
            ("file_name", Text),
            ("created_at", Time),
        ],
    ),
    table(
        "media_uses",
        &[
            ("name", Text),
            ("post_id", Int),
            ("comment_id", Int),
            ("user_id", Int),
            ("page_id", Int),
        ],
        &["name", "post_id", "comment_id", "user_id", "page_id"],
    ),
    with_id(
        "visitors",
        &[
            ("id", Int),
            ("username", Text),
            ("visits", Int),
            ("created_at", Time),
        ],
    ),
    with_id(
        "visits",
        &[
            ("id", Int),
            ("visitor_id", Int),
            ("post_id", Int),
            ("viewer", Text),
            ("at", Time),
        ],
    ),
    table(
        "imported",
        &[
            ("source", Text),
            ("source_id", Text),
            ("post_id", Int),
            ("page_id", Int),
            ("updated_at", Time),
        ],
        &["source", "source_id"],
    ),
    table(
        "redirects",
        &[
            ("path", Text),
            ("post_id", Int),
            ("page_id", Int),
            ("created_at", Time),
        ],
        &["path"],
    ),
    table(
        "imported_comments",
        &[("source", Text), ("source_id", Text), ("comment_id", Int)],
        &["source", "source_id"],
    ),
    with_id(
        "remote_actors",
        &[
            ("id", Int),
            ("uri", Text),
            ("domain", Text),
            ("handle", Text),
            ("name", Text),
            ("url", Text),
            ("inbox", Text),
            ("shared_inbox", Text),
            ("key_id", Text),
            ("public_key_pem", Text),
            ("icon_url", Text),
            ("fetched_at", Time),
            ("icon", Text),
            ("icon_from", Text),
            ("moved_to", Text),
        ],
    ),
    with_id(
        "followers",
        &[
            ("id", Int),
            ("user_id", Int),
            ("remote_actor_id", Int),
            ("follow_uri", Text),
            ("state", Text),
            ("created_at", Time),
        ],
    ),
    with_id(
        "remote_replies",
        &[
            ("id", Int),
            ("uri", Text),
            ("post_id", Int),
            ("parent_id", Int),
            ("remote_actor_id", Int),
            ("body", Text),
            ("url", Text),
            ("state", Text),
            ("comment_id", Int),
            ("published_at", Time),
            ("created_at", Time),
        ],
    ),
    table(
        "remote_reactions",
        &[
            ("uri", Text),
            ("kind", Text),
            ("post_id", Int),
            ("remote_actor_id", Int),
            ("created_at", Time),
        ],
        &["uri"],
    ),
    table(
        "actor_standing",
        &[
            ("user_id", Int),
            ("remote_actor_id", Int),
            ("standing", Text),
        ],
        &["user_id", "remote_actor_id"],
    ),
    table(
        "blocked_domains",
        &[("domain", Text), ("created_at", Time)],
        &["domain"],
    ),
    table(
        "post_views",
        &[("post_id", Int), ("views", Int)],
        &["post_id"],
    ),
    table(
        "invites",
        &[
            ("code", Text),
            ("created_by", Int),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_by", Int),
            ("used_at", Time),
        ],
        &["code"],
    ),
    table(
        "sessions",
        &[
            ("id", Text),
            ("user_id", Int),
            ("data", Text),
            ("expires_at", Time),
        ],
        &["id"],
    ),
    table(
        "pending_registrations",
        &[
            ("email", Text),
            ("username", Text),
            ("password_hash", Text),
            ("invite", Text),
            ("token_hash", Text),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        &["email"],
    ),
    table(
        "password_resets",
        &[
            ("token_hash", Text),
            ("user_id", Int),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
        ],
        &["token_hash"],
    ),
    table(
        "email_changes",
        &[
            ("user_id", Int),
            ("email", Text),
            ("token_hash", Text),
            ("created_at", Time),
            ("expires_at", Time),
        ],
        &["user_id"],
    ),
    table(
        "login_backoff",
        &[("key", Text), ("failures", Int), ("wait_until", Time)],
        &["key"],
    ),
    table(
        "login_failures",
        &[("key", Text), ("attempted_at", Time)],
        &["key", "attempted_at"],
    ),
    // Newsletter subscribers are personal data the site holds: they move
    // with it (and are in its backups).
    with_id(
        "subscribers",
        &[
            ("id", Int),
            ("email", Text),
            ("state", Text),
            ("bounces", Int),
            ("consent", Text),
            ("created_at", Time),
            ("confirmed_at", Time),
        ],
    ),
    table(
        "subscriptions",
        &[
            ("subscriber_id", Int),
            ("author_id", Int),
            ("created_at", Time),
        ],
        &["subscriber_id", "author_id"],
    ),
    // Which posts were emailed: a moved site does not email them again.
    with_id(
        "newsletter_sends",
        &[
            ("id", Int),
            ("post_id", Int),
            ("recipients", Int),
            ("created_at", Time),
            ("finished_at", Time),
        ],
    ),
    // Maintenance mode: an archive made for a move says "on", and the new
    // site stays closed until its operator turns it off.
    table("settings", &[("key", Text), ("value", Text)], &["key"]),
];

/// Tables an archive leaves out, and why: the work queue and the outbox of
/// domain events belong to the running site (carried over, a job would run
/// twice: once by the old site's worker, once by the new), and the rest is
/// derived from the tables above or is the migrations' own bookkeeping.
pub const LEFT_OUT: &[&str] = &[
    "jobs",
    "events",
    // Imports run on the old site: their uploads are gone once read, and
    // what they brought is in the tables above.
    "import_runs",
    // Archives of the old site, made for the move: not the site itself.
    "site_exports",
    // Federation's bookkeeping: activities already taken (a replay of one
    // older than the signatures' hour is refused by its date anyway), and
    // inboxes failing now.
    "inbox_seen",
    "delivery_failures",
    // Each recipient of each emailed post, while it was sent: the sends
    // themselves are carried.
    "newsletter_deliveries",
    // SQLite's full-text index of posts, and its internal tables: rebuilt
    // from `posts` by its triggers as the rows go in.
    "post_search",
    "post_search_config",
    "post_search_content",
    "post_search_data",
    "post_search_docsize",
    "post_search_idx",
    "_sqlx_migrations",
    "sqlite_sequence",
];
