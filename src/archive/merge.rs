//! An archive merged into a site that holds data (`quire import --merge`):
//! two blogs made one, or a site's posts brought back beside new ones.
//!
//! Every row gets an id after the site's own (ids change; every reference
//! is carried to the new id: [`REFERENCES`], held to the schema's foreign
//! keys by a test). What both sites have is not doubled: an account with
//! the same name or address is the same person (their posts and comments
//! become that account's), a tag of the same name is the same tag, an
//! image of the same bytes is the same image, and a like or a follow
//! already there stays one. A post or page whose address is taken gets a
//! free one. The other site's sign-ins, pending links and settings are
//! its own, and are left out; so is its owner's role (an administrator
//! here: a site has one owner).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, bail};

use super::Bound;
use crate::db::{Query, Tx, query};

/// Each column that refers to another table's row: (table, column, the
/// table referred to).
pub const REFERENCES: &[(&str, &str, &str)] = &[
    ("posts", "author_id", "users"),
    ("post_tags", "post_id", "posts"),
    ("post_tags", "tag_id", "tags"),
    ("comments", "post_id", "posts"),
    ("comments", "author_id", "users"),
    ("comments", "parent_id", "comments"),
    ("reactions", "post_id", "posts"),
    ("reactions", "user_id", "users"),
    ("follows", "follower_id", "users"),
    ("follows", "followee_id", "users"),
    ("uploads", "user_id", "users"),
    ("uploads", "name", "media"),
    ("media_uses", "name", "media"),
    ("media_uses", "post_id", "posts"),
    ("media_uses", "comment_id", "comments"),
    ("media_uses", "user_id", "users"),
    ("media_uses", "page_id", "pages"),
    ("visits", "visitor_id", "visitors"),
    ("visits", "post_id", "posts"),
    ("imported", "post_id", "posts"),
    ("imported", "page_id", "pages"),
    ("redirects", "post_id", "posts"),
    ("redirects", "page_id", "pages"),
    ("imported_comments", "comment_id", "comments"),
    ("post_views", "post_id", "posts"),
    ("invites", "created_by", "users"),
    ("invites", "used_by", "users"),
    ("sessions", "user_id", "users"),
    ("password_resets", "user_id", "users"),
    ("email_changes", "user_id", "users"),
    ("followers", "user_id", "users"),
    ("followers", "remote_actor_id", "remote_actors"),
    ("remote_replies", "post_id", "posts"),
    ("remote_replies", "parent_id", "comments"),
    ("remote_replies", "remote_actor_id", "remote_actors"),
    ("remote_replies", "comment_id", "comments"),
    ("remote_reactions", "post_id", "posts"),
    ("remote_reactions", "remote_actor_id", "remote_actors"),
    ("actor_standing", "user_id", "users"),
    ("actor_standing", "remote_actor_id", "remote_actors"),
    ("subscriptions", "subscriber_id", "subscribers"),
    ("subscriptions", "author_id", "users"),
    ("newsletter_sends", "post_id", "posts"),
];

/// What merging does with a table's rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Not merged: the other site's own.
    Skip,
    /// Every row, with a new id.
    Insert,
    /// Every row but one the site already has (by its key).
    KeepExisting,
    /// A row the site has by these columns is that row; the others are
    /// inserted.
    Match(&'static [&'static str]),
}

fn policy(table: &str) -> Policy {
    match table {
        "users" => Policy::Match(&["username_key", "email"]),
        "tags" => Policy::Match(&["name"]),
        // The same actor or reply of the fediverse is the same row.
        "remote_actors" | "remote_replies" => Policy::Match(&["uri"]),
        "visitors" => Policy::Match(&["username"]),
        "subscribers" => Policy::Match(&["email"]),
        "newsletter_sends" => Policy::Insert,
        "posts" | "pages" | "comments" | "uploads" | "visits" => Policy::Insert,
        "sessions"
        | "pending_registrations"
        | "password_resets"
        | "email_changes"
        | "login_backoff"
        | "login_failures"
        | "settings"
        | "invites" => Policy::Skip,
        _ => Policy::KeepExisting,
    }
}

/// The ids the merge has given, by table: old id → id here.
#[derive(Default)]
pub struct Merge {
    ids: HashMap<&'static str, HashMap<i64, i64>>,
    /// Addresses taken in this merge, by table (not yet written: rows go
    /// in batches).
    slugs: HashMap<&'static str, HashSet<String>>,
}

/// A table being merged: where its new ids start, and its columns.
pub struct Target<'a> {
    pub table: &'static str,
    pub columns: &'a [String],
    /// Added to each archived id (the site's largest id).
    offset: i64,
    /// Added to each page's place in the navigation.
    positions: i64,
}

impl Merge {
    pub fn skips(table: &str) -> bool {
        policy(table) == Policy::Skip
    }

    /// What the insert of `table` ends with.
    pub fn on_conflict(table: &str) -> &'static str {
        match policy(table) {
            Policy::KeepExisting => " ON CONFLICT DO NOTHING",
            _ => "",
        }
    }

    pub async fn target<'a>(
        tx: &mut Tx,
        table: &'static str,
        identity: bool,
        columns: &'a [String],
    ) -> anyhow::Result<Target<'a>> {
        let offset = if identity {
            Query::assembled(format!(
                "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}"
            ))
            .scalar(&mut *tx)
            .await?
        } else {
            0
        };
        let positions = if table == "pages" {
            query("SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) FROM pages")
                .scalar(&mut *tx)
                .await?
        } else {
            0
        };
        Ok(Target {
            table,
            columns,
            offset,
            positions,
        })
    }

    /// A row of the archive made this site's: its references carried to
    /// the rows they now are, its own id after the site's, or `None` when
    /// the site has it already (and the row's id is that row's).
    pub async fn row(
        &mut self,
        tx: &mut Tx,
        target: &Target<'_>,
        mut row: Vec<Bound>,
    ) -> anyhow::Result<Option<Vec<Bound>>> {
        let at = |name: &str| target.columns.iter().position(|c| c == name);
        for (table, column, referred) in REFERENCES {
            if *table != target.table || *referred == "media" {
                continue;
            }
            let Some(index) = at(column) else { continue };
            if let Bound::Int(Some(old)) = row[index] {
                let new = self
                    .ids
                    .get(referred)
                    .and_then(|ids| ids.get(&old))
                    .with_context(|| format!("{column} {old}: no such row in {referred}"))?;
                row[index] = Bound::Int(Some(*new));
            }
        }
        let old_id = match at("id").map(|i| &row[i]) {
            Some(Bound::Int(Some(id))) => Some(*id),
            _ => None,
        };
        if let Policy::Match(columns) = policy(target.table) {
            let found = matching(tx, target.table, columns, |c| at(c).map(|i| &row[i])).await?;
            if let (Some(existing), Some(old)) = (found, old_id) {
                self.ids
                    .entry(target.table)
                    .or_default()
                    .insert(old, existing);
                return Ok(None);
            }
        }
        if let Some(old) = old_id {
            let new = old + target.offset;
            self.ids.entry(target.table).or_default().insert(old, new);
            row[at("id").expect("has an id")] = Bound::Int(Some(new));
        }
        match target.table {
            // A site has one owner: the other site's is an administrator.
            "users" => {
                if let Some(i) = at("role")
                    && matches!(&row[i], Bound::Text(Some(role)) if role == "owner")
                {
                    row[i] = Bound::Text(Some("admin".into()));
                }
            }
            "posts" | "pages" => {
                let i = at("slug").context("a post without a slug")?;
                if let Bound::Text(Some(slug)) = &row[i] {
                    let free = self.free_slug(tx, target.table, slug).await?;
                    row[i] = Bound::Text(Some(free));
                }
                if let Some(i) = at("position")
                    && let Bound::Int(Some(position)) = row[i]
                {
                    row[i] = Bound::Int(Some(position + target.positions));
                }
            }
            _ => {}
        }
        Ok(Some(row))
    }

    /// `slug`, or with `-2`, `-3`… the first that neither the site nor
    /// this merge has taken.
    async fn free_slug(
        &mut self,
        tx: &mut Tx,
        table: &'static str,
        slug: &str,
    ) -> anyhow::Result<String> {
        let taken = self.slugs.entry(table).or_default();
        for n in 1..10_000 {
            let candidate = if n == 1 {
                slug.to_owned()
            } else {
                format!("{slug}-{n}")
            };
            let used: i64 =
                Query::assembled(format!("SELECT COUNT(*) FROM {table} WHERE slug = $1"))
                    .bind(&candidate)
                    .scalar(&mut *tx)
                    .await?;
            if used == 0 && taken.insert(candidate.clone()) {
                return Ok(candidate);
            }
        }
        bail!("no free address for {slug}")
    }
}

/// The id of the site's row of `table` with the same value in any of
/// `columns`.
async fn matching<'r>(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    value: impl Fn(&str) -> Option<&'r Bound>,
) -> anyhow::Result<Option<i64>> {
    for column in columns {
        if let Some(Bound::Text(Some(text))) = value(column) {
            let found: Option<i64> =
                Query::assembled(format!("SELECT id FROM {table} WHERE {column} = $1"))
                    .bind(text)
                    .scalar_optional(&mut *tx)
                    .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(None)
}
