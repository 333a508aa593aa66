//! Feeds of what a page lists, for feed readers: RSS 2.0 (`feed.xml`),
//! Atom 1.0 (`atom.xml`) and JSON Feed 1.1 (`feed.json`), for the site (the
//! home page as visitors see it: in blog mode, the owner's posts), for each
//! author (`/users/NAME/feed.xml`) and for each tag (`/tags/TAG/feed.xml`).
//!
//! An item carries its post's whole HTML, or with `QUIRE_FEED_CONTENT=
//! summary` only its summary, with every address in it absolute (readers
//! show it away from the site). Its id is the post's address, which never
//! changes (an edit keeps the slug). Feeds are pages to the cache: the same
//! for everyone, forgotten at every change, with an `ETag` and a
//! `Last-Modified` (the newest item's).

pub mod web;

use serde::Serialize;
use url::Url;

use crate::app::App;
use crate::config::FeedContent;
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts;
use crate::features::posts::{self, Listing, Post};
use crate::markdown;
use crate::templates::path_segment;

/// How many posts a feed carries, the newest.
const ITEMS: i64 = 20;

/// How long an automatic summary is, in characters.
const SUMMARY_CHARS: usize = 280;

/// Whose posts a feed carries.
#[derive(Debug, Clone)]
pub enum Scope {
    /// What the home page shows visitors.
    Site,
    Author(String),
    Tag(String),
}

impl Scope {
    /// The page the feed follows, from the site's root (`users/NAME`).
    fn page_path(&self) -> String {
        match self {
            Scope::Site => String::new(),
            Scope::Author(username) => format!("users/{}", path_segment(username)),
            Scope::Tag(tag) => format!("tags/{}", path_segment(tag)),
        }
    }

    /// A feed's address in `format`, from the site's root.
    pub fn feed_path(&self, format: Format) -> String {
        match self {
            Scope::Site => format!("/{}", format.file_name()),
            other => format!("/{}/{}", other.page_path(), format.file_name()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Rss => "feed.xml",
            Format::Atom => "atom.xml",
            Format::Json => "feed.json",
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }
}

fn title(scope: &Scope, site_title: &str) -> String {
    match scope {
        Scope::Site => site_title.to_owned(),
        Scope::Author(username) => format!("{username} · {site_title}"),
        Scope::Tag(tag) => format!("Posts tagged “{tag}” · {site_title}"),
    }
}

/// A feed, whatever its format.
#[derive(Debug)]
pub struct Feed {
    title: String,
    /// The page it follows.
    page: Url,
    /// Itself.
    this: Url,
    /// The newest item's last change; the epoch when it has none.
    pub updated: Timestamp,
    items: Vec<Item>,
}

#[derive(Debug)]
struct Item {
    url: Url,
    title: String,
    summary: String,
    /// The whole post, unless feeds carry summaries.
    content: Option<String>,
    published: Timestamp,
    updated: Timestamp,
    author: String,
    author_url: Option<Url>,
    tags: Vec<String>,
}

/// The feed of `scope`, as `format` will carry it: the newest published
/// posts the page shows visitors. An unknown author or a tag no post has
/// is not found, as their pages are not.
pub async fn build(app: &App, scope: &Scope, format: Format) -> AppResult<Feed> {
    let listing = match scope {
        Scope::Site => Listing {
            owner_only: true,
            ..Listing::default()
        },
        Scope::Author(username) => {
            accounts::find_active_by_username(&app.db, username)
                .await?
                .ok_or(AppError::NotFound(Thing::Profile))?;
            Listing {
                author: Some(username.clone()),
                ..Listing::default()
            }
        }
        Scope::Tag(tag) => Listing {
            tag: Some(tag.clone()),
            ..Listing::default()
        },
    };
    let (posts, total) = posts::list(&app.db, None, &listing, 0, ITEMS).await?;
    if total == 0 && matches!(scope, Scope::Tag(_)) {
        return Err(AppError::NotFound(Thing::Page));
    }
    let absolute = |path: &str| {
        app.settings
            .http
            .absolute(path)
            .map_err(|e| AppError::Internal(e.into()))
    };
    let full = app.settings.site.feed_content == FeedContent::Full;
    let mut items = Vec::with_capacity(posts.len());
    for mut post in posts {
        posts::keep_html_current(app, &mut post).await?;
        items.push(item(
            &post,
            absolute(&format!("posts/{}", post.slug))?,
            full,
            &absolute,
        )?);
    }
    Ok(Feed {
        title: title(scope, &app.settings.site.title),
        page: absolute(&scope.page_path())?,
        this: absolute(&scope.feed_path(format))?,
        updated: items
            .iter()
            .map(|i| i.updated)
            .max()
            .unwrap_or(Timestamp::EPOCH),
        items,
    })
}

fn item(
    post: &Post,
    url: Url,
    full: bool,
    absolute: &impl Fn(&str) -> AppResult<Url>,
) -> AppResult<Item> {
    let html = post.body_html.as_deref().unwrap_or_default();
    // Listed posts are published; an edit after that is an update.
    let published = post.published_at.unwrap_or(post.created_at);
    let author_url = match post.author.username() {
        Some(username) => Some(absolute(&format!("users/{}", path_segment(username)))?),
        None => None,
    };
    Ok(Item {
        content: full.then(|| markdown::for_feed(html, &url)),
        url,
        title: post.title.clone(),
        summary: post.summary(SUMMARY_CHARS),
        published,
        updated: post
            .edited_at
            .map_or(published, |edited| edited.max(published)),
        author: post.author.name().to_owned(),
        author_url,
        tags: post.tags.clone(),
    })
}

impl Feed {
    /// The feed in `format`'s text.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Rss => self.rss(),
            Format::Atom => self.atom(),
            Format::Json => self.json(),
        }
    }

    fn rss(&self) -> String {
        use rss::extension::atom::{AtomExtension, Link};
        use rss::extension::dublincore::DublinCoreExtension;
        let mut channel = rss::Channel::default();
        channel.set_title(self.title.clone());
        channel.set_link(self.page.to_string());
        channel.set_description(self.title.clone());
        channel.set_generator("Quire".to_owned());
        channel.set_last_build_date(rfc2822(self.updated));
        let mut this = Link::default();
        this.set_href(self.this.to_string());
        this.set_rel("self");
        this.set_mime_type(Format::Rss.media_type().to_owned());
        let mut atom = AtomExtension::default();
        atom.set_links(vec![this]);
        channel.set_atom_ext(atom);
        let items = self.items.iter().map(|i| {
            let mut item = rss::Item::default();
            item.set_title(i.title.clone());
            item.set_link(i.url.to_string());
            item.set_guid(rss::Guid {
                value: i.url.to_string(),
                permalink: true,
            });
            item.set_pub_date(rfc2822(i.published));
            item.set_description(i.summary.clone());
            item.set_content(i.content.clone());
            item.set_categories(
                i.tags
                    .iter()
                    .map(|tag| rss::Category {
                        name: tag.clone(),
                        domain: None,
                    })
                    .collect::<Vec<_>>(),
            );
            // RSS's own <author> is an email address: the name goes in
            // Dublin Core's creator, as most feeds do.
            let mut creator = DublinCoreExtension::default();
            creator.set_creators(vec![i.author.clone()]);
            item.set_dublin_core_ext(creator);
            item
        });
        channel.set_items(items.collect::<Vec<_>>());
        channel.to_string()
    }

    fn atom(&self) -> String {
        use atom_syndication::{Category, Content, Entry, FixedDateTime, Link, Person, Text};
        let time = |at: Timestamp| {
            FixedDateTime::parse_from_rfc3339(&at.rfc3339())
                .expect("a Timestamp's text is RFC 3339")
        };
        let link = |href: &Url, rel: &str, media_type: Option<&str>| Link {
            href: href.to_string(),
            rel: rel.to_owned(),
            mime_type: media_type.map(str::to_owned),
            ..Link::default()
        };
        let entries = self.items.iter().map(|i| Entry {
            title: Text::plain(i.title.clone()),
            id: i.url.to_string(),
            updated: time(i.updated),
            published: Some(time(i.published)),
            authors: vec![Person {
                name: i.author.clone(),
                uri: i.author_url.as_ref().map(Url::to_string),
                ..Person::default()
            }],
            categories: i
                .tags
                .iter()
                .map(|tag| Category {
                    term: tag.clone(),
                    ..Category::default()
                })
                .collect(),
            links: vec![link(&i.url, "alternate", Some("text/html"))],
            summary: Some(Text::plain(i.summary.clone())),
            content: i.content.as_ref().map(|html| Content {
                value: Some(html.clone()),
                content_type: Some("html".to_owned()),
                ..Content::default()
            }),
            ..Entry::default()
        });
        let feed = atom_syndication::Feed {
            title: Text::plain(self.title.clone()),
            id: self.page.to_string(),
            updated: time(self.updated),
            links: vec![
                link(&self.page, "alternate", Some("text/html")),
                link(&self.this, "self", Some(Format::Atom.media_type())),
            ],
            entries: entries.collect(),
            ..atom_syndication::Feed::default()
        };
        feed.to_string()
    }

    fn json(&self) -> String {
        let items: Vec<_> = self
            .items
            .iter()
            .map(|i| JsonItem {
                id: i.url.as_str(),
                url: i.url.as_str(),
                title: &i.title,
                content_html: i.content.as_deref(),
                // JSON Feed needs one of the two contents.
                content_text: i.content.is_none().then_some(i.summary.as_str()),
                summary: &i.summary,
                date_published: i.published,
                date_modified: i.updated,
                authors: [JsonAuthor {
                    name: &i.author,
                    url: i.author_url.as_ref().map(Url::as_str),
                }],
                tags: &i.tags,
            })
            .collect();
        let feed = JsonFeed {
            version: "https://jsonfeed.org/version/1.1",
            title: &self.title,
            home_page_url: self.page.as_str(),
            feed_url: self.this.as_str(),
            items,
        };
        serde_json::to_string_pretty(&feed).expect("a feed serializes")
    }
}

/// RSS's dates: RFC 822's, as RFC 2822 writes them.
fn rfc2822(at: Timestamp) -> String {
    at.as_datetime()
        .format(&time::format_description::well_known::Rfc2822)
        .expect("every Timestamp has an RFC 2822 form")
}

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: &'a str,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    summary: &'a str,
    date_published: Timestamp,
    date_modified: Timestamp,
    authors: [JsonAuthor<'a>; 1],
    tags: &'a [String],
}

#[derive(Serialize)]
struct JsonAuthor<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}
