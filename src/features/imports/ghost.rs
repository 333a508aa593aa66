//! A Ghost site's export (Settings → Migration → Export content: JSON)
//! read into [`Item`]s: posts (published, scheduled, drafts) and pages,
//! their tags (but Ghost's internal ones, `#…`), excerpts and feature
//! images, and the images they show, taken from Ghost's `content/images`
//! folder when it lies beside the file (`content/images/` or `images/`).
//!
//! A body is stored by Ghost as HTML (exports mostly have it), else as
//! Lexical (Ghost 5's editor) or Mobiledoc (Ghost 4's) JSON: both are made
//! HTML here, their Markdown cards kept as Markdown, then Markdown by
//! [`super::html`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

use super::{Item, ItemKind, Skipped, html, markdown};

/// Reads the export at `file`. Returns the name of the site (its title
/// and the export's own id of its first user: a later export of the same
/// site is the same source), the items and what was passed over.
pub fn read(file: &Path) -> anyhow::Result<(String, Vec<Item>, Vec<Skipped>)> {
    let text = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let export: Value =
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("the file is not JSON: {e}"))?;
    // `{"db": [{"meta", "data"}]}`, or older exports' `{"meta", "data"}`.
    let db = export.get("db").and_then(|db| db.get(0)).unwrap_or(&export);
    let data = db
        .get("data")
        .filter(|d| d.get("posts").is_some_and(Value::is_array))
        .context("this is not a Ghost export: no data.posts in it")?;
    let rows = |table: &str| -> Vec<&Value> {
        data.get(table)
            .and_then(Value::as_array)
            .map(|rows| rows.iter().collect())
            .unwrap_or_default()
    };
    let text_of = |row: &Value, key: &str| {
        row.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };

    let mut skipped = Vec::new();
    let tags: HashMap<String, String> = rows("tags")
        .into_iter()
        .filter_map(|tag| {
            let name = text_of(tag, "name");
            if name.starts_with('#') {
                skipped.push(Skipped {
                    source_id: format!("tag:{}", text_of(tag, "slug")),
                    reason: "one of Ghost's internal tags".into(),
                });
                return None;
            }
            Some((text_of(tag, "id"), name))
        })
        .collect();
    let mut post_tags: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for row in rows("posts_tags") {
        if let Some(name) = tags.get(&text_of(row, "tag_id")) {
            let order = row.get("sort_order").and_then(Value::as_i64).unwrap_or(0);
            post_tags
                .entry(text_of(row, "post_id"))
                .or_default()
                .push((order, name.clone()));
        }
    }
    // Each post's authors, first author first: their slugs and addresses.
    let users: HashMap<String, [String; 2]> = rows("users")
        .into_iter()
        .map(|u| (text_of(u, "id"), [text_of(u, "slug"), text_of(u, "email")]))
        .collect();
    let mut post_authors: HashMap<String, Vec<(i64, String)>> = HashMap::new();
    for row in rows("posts_authors") {
        if let Some(names) = users.get(&text_of(row, "author_id")) {
            let order = row.get("sort_order").and_then(Value::as_i64).unwrap_or(0);
            for name in names.iter().filter(|n| !n.is_empty()) {
                post_authors
                    .entry(text_of(row, "post_id"))
                    .or_default()
                    .push((order, name.clone()));
            }
        }
    }
    let site_name = rows("settings")
        .into_iter()
        .find(|s| text_of(s, "key") == "title")
        .map(|s| text_of(s, "value"))
        .unwrap_or_default();
    let first_user = rows("users")
        .first()
        .map(|u| text_of(u, "id"))
        .unwrap_or_default();
    let images_folder = images_folder(file);

    let mut items = Vec::new();
    for post in rows("posts") {
        let id = text_of(post, "id");
        let kind_name = text_of(post, "type");
        let status = text_of(post, "status");
        let source_id = format!("{kind_name}:{id}");
        let kind = match (kind_name.as_str(), status.as_str()) {
            ("post", "published" | "sent" | "scheduled") => ItemKind::Post { draft: false },
            ("post", _) => ItemKind::Post { draft: true },
            ("page", "published") => ItemKind::Page,
            (other, state) => {
                skipped.push(Skipped::not_imported(source_id, other, state));
                continue;
            }
        };
        let mut body = match body(post) {
            Ok(body) => body,
            Err(reason) => {
                skipped.push(Skipped { source_id, reason });
                continue;
            }
        };
        let feature = text_of(post, "feature_image");
        if !feature.is_empty() && !body.contains(&feature) {
            body = format!("![]({feature})\n\n{body}");
        }
        let mut tags = post_tags.remove(&id).unwrap_or_default();
        tags.sort();
        let date = |key: &str| markdown::parse_date(&text_of(post, key));
        let slug = text_of(post, "slug");
        let published_at = match kind {
            ItemKind::Post { draft: false } => date("published_at"),
            _ => None,
        };
        // The site's images, found in the folder or not; other images are
        // elsewhere on the web, and left as they are.
        let images = super::images_of(&body, |reference| {
            reference.contains("/content/images/").then(|| {
                images_folder
                    .as_deref()
                    .and_then(|dir| image_file(dir, reference))
            })
        });
        items.push(Item {
            source_id,
            kind,
            title: text_of(post, "title"),
            description: text_of(post, "custom_excerpt"),
            body,
            published_at,
            created_at: date("created_at"),
            tags: tags.into_iter().map(|(_, name)| name).collect(),
            // Ghost's default address of a post or a page.
            old_paths: (published_at.is_some() || kind == ItemKind::Page)
                .then(|| format!("/{slug}/"))
                .into_iter()
                .collect(),
            slug,
            images,
            comments: Vec::new(),
            authors: {
                let mut authors = post_authors.remove(&id).unwrap_or_default();
                // Stable: a person's slug stays before their address.
                authors.sort_by_key(|(order, _)| *order);
                authors.into_iter().map(|(_, name)| name).collect()
            },
        });
    }
    Ok((format!("{site_name}:{first_user}"), items, skipped))
}

/// The folder of the site's images beside the export, if there is one.
fn images_folder(file: &Path) -> Option<PathBuf> {
    super::folder_beside(file, &["content/images", "images"])
}

/// The file an image's address names (`__GHOST_URL__/content/images/…`),
/// inside the images folder only.
fn image_file(images: &Path, reference: &str) -> Option<PathBuf> {
    let (_, path) = reference.split_once("/content/images/")?;
    let path = percent_encoding::percent_decode_str(path.split(['?', '#']).next()?)
        .decode_utf8_lossy()
        .into_owned();
    // Ghost's resized copies: `content/images/size/w600/2022/03/a.png`.
    let path = match path.strip_prefix("size/") {
        Some(sized) => sized
            .split_once('/')
            .map_or(path.clone(), |(_, p)| p.to_owned()),
        None => path,
    };
    let file = images.join(path);
    (file.is_file()
        && file
            .canonicalize()
            .is_ok_and(|real| real.starts_with(images)))
    .then_some(file)
}

/// A post's body as Markdown, from whichever form Ghost stored.
fn body(post: &Value) -> Result<String, String> {
    let stored = |key: &str| {
        post.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    if let Some(text) = stored("html") {
        return Ok(html::to_markdown(text));
    }
    if let Some(text) = stored("lexical") {
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("its Lexical body is not JSON: {e}"))?;
        let children = document["root"]["children"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return Ok(blocks(children.iter().map(lexical_block)));
    }
    if let Some(text) = stored("mobiledoc") {
        let document: Value = serde_json::from_str(text)
            .map_err(|e| format!("its Mobiledoc body is not JSON: {e}"))?;
        return Ok(blocks(mobiledoc_blocks(&document)));
    }
    Ok(String::new())
}

/// A part of a body: HTML (to be made Markdown), or an author's Markdown
/// (a Markdown card), kept as written.
enum Block {
    Html(String),
    Markdown(String),
}

fn blocks(parts: impl Iterator<Item = Block>) -> String {
    parts
        .map(|part| match part {
            Block::Html(text) => html::to_markdown(&text),
            Block::Markdown(text) => text.trim().to_owned(),
        })
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn string<'a>(node: &'a Value, key: &str) -> &'a str {
    node.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A top-level Lexical node.
fn lexical_block(node: &Value) -> Block {
    match string(node, "type") {
        "markdown" => Block::Markdown(string(node, "markdown").to_owned()),
        _ => Block::Html(lexical_html(node)),
    }
}

/// A Lexical node as HTML: Ghost's (Koenig's) nodes and cards; a card
/// with nothing to show as text is left out.
fn lexical_html(node: &Value) -> String {
    let children = || -> String {
        node.get("children")
            .and_then(Value::as_array)
            .map(|c| c.iter().map(lexical_html).collect())
            .unwrap_or_default()
    };
    match string(node, "type") {
        "text" | "extended-text" => {
            let mut text = escape(string(node, "text"));
            let format = node.get("format").and_then(Value::as_u64).unwrap_or(0);
            for (bit, tag) in [
                (16, "code"),
                (4, "s"),
                (2, "em"),
                (1, "strong"),
                (32, "sub"),
                (64, "sup"),
            ] {
                if format & bit != 0 {
                    text = format!("<{tag}>{text}</{tag}>");
                }
            }
            text
        }
        "linebreak" => "<br>".into(),
        "link" | "autolink" => {
            format!(
                "<a href=\"{}\">{}</a>",
                escape(string(node, "url")),
                children()
            )
        }
        "paragraph" => format!("<p>{}</p>", children()),
        "heading" | "extended-heading" => {
            let tag = match string(node, "tag") {
                tag @ ("h1" | "h2" | "h3" | "h4" | "h5" | "h6") => tag,
                _ => "h2",
            };
            format!("<{tag}>{}</{tag}>", children())
        }
        "list" => {
            let tag = if string(node, "listType") == "number" {
                "ol"
            } else {
                "ul"
            };
            format!("<{tag}>{}</{tag}>", children())
        }
        "listitem" => format!("<li>{}</li>", children()),
        "quote" | "extended-quote" | "aside" => format!("<blockquote>{}</blockquote>", children()),
        "horizontalrule" => "<hr>".into(),
        "image" => {
            let caption = string(node, "caption");
            let image = format!(
                "<img src=\"{}\" alt=\"{}\">",
                escape(string(node, "src")),
                escape(string(node, "alt"))
            );
            if caption.is_empty() {
                format!("<figure>{image}</figure>")
            } else {
                format!("<figure>{image}<figcaption>{caption}</figcaption></figure>")
            }
        }
        "gallery" => node
            .get("images")
            .and_then(Value::as_array)
            .map(|images| {
                images
                    .iter()
                    .map(|i| {
                        format!(
                            "<p><img src=\"{}\" alt=\"{}\"></p>",
                            escape(string(i, "src")),
                            escape(string(i, "alt"))
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "codeblock" => format!(
            "<pre><code class=\"language-{}\">{}</code></pre>",
            escape(string(node, "language")),
            escape(string(node, "code"))
        ),
        "html" => string(node, "html").to_owned(),
        "embed" => match string(node, "html") {
            "" => link_paragraph(string(node, "url")),
            html => html.to_owned(),
        },
        "bookmark" => link_paragraph(string(node, "url")),
        "callout" => format!("<blockquote>{}</blockquote>", string(node, "calloutText")),
        "button" => format!(
            "<p><a href=\"{}\">{}</a></p>",
            escape(string(node, "buttonUrl")),
            escape(string(node, "buttonText"))
        ),
        "toggle" => format!(
            "<h3>{}</h3>{}",
            string(node, "heading"),
            string(node, "content")
        ),
        // Other cards (a signup form, a product, a paywall) have no text
        // to carry.
        _ => children(),
    }
}

fn link_paragraph(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let url = escape(url);
    format!("<p><a href=\"{url}\">{url}</a></p>")
}

/// Mobiledoc's sections (Ghost 4): markup sections and lists with their
/// markups, and cards.
fn mobiledoc_blocks(document: &Value) -> impl Iterator<Item = Block> + '_ {
    let empty = Vec::new();
    let array = |key: &str| {
        document
            .get(key)
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .clone()
    };
    let markups = array("markups");
    let cards = array("cards");
    let sections = array("sections");
    sections.into_iter().map(move |section| {
        let kind = section.get(0).and_then(Value::as_u64).unwrap_or(0);
        match kind {
            // A markup section: [1, tag, markers].
            1 => {
                let tag = match section.get(1).and_then(Value::as_str).unwrap_or("p") {
                    tag @ ("h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "aside") => {
                        if tag == "aside" {
                            "blockquote"
                        } else {
                            tag
                        }
                    }
                    _ => "p",
                };
                let text = markers(section.get(2), &markups);
                Block::Html(format!("<{tag}>{text}</{tag}>"))
            }
            // A list: [3, tag, [markers, …]].
            3 => {
                let tag = if section.get(1).and_then(Value::as_str) == Some("ol") {
                    "ol"
                } else {
                    "ul"
                };
                let items: String = section
                    .get(2)
                    .and_then(Value::as_array)
                    .map(|items| {
                        items
                            .iter()
                            .map(|i| format!("<li>{}</li>", markers(Some(i), &markups)))
                            .collect()
                    })
                    .unwrap_or_default();
                Block::Html(format!("<{tag}>{items}</{tag}>"))
            }
            // A card: [10, index into cards].
            10 => {
                let card = section
                    .get(1)
                    .and_then(Value::as_u64)
                    .and_then(|i| cards.get(i as usize));
                let (name, payload) = match card {
                    Some(card) => (
                        card.get(0).and_then(Value::as_str).unwrap_or(""),
                        card.get(1).cloned().unwrap_or(Value::Null),
                    ),
                    None => ("", Value::Null),
                };
                match name {
                    "markdown" | "card-markdown" => {
                        Block::Markdown(string(&payload, "markdown").to_owned())
                    }
                    "html" => Block::Html(string(&payload, "html").to_owned()),
                    "image" => Block::Html(format!(
                        "<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}</figcaption></figure>",
                        escape(string(&payload, "src")),
                        escape(string(&payload, "alt")),
                        string(&payload, "caption")
                    )),
                    "code" => Block::Html(format!(
                        "<pre><code class=\"language-{}\">{}</code></pre>",
                        escape(string(&payload, "language")),
                        escape(string(&payload, "code"))
                    )),
                    "hr" => Block::Html("<hr>".into()),
                    "embed" | "bookmark" => Block::Html(link_paragraph(string(&payload, "url"))),
                    _ => Block::Html(String::new()),
                }
            }
            _ => Block::Html(String::new()),
        }
    })
}

/// Mobiledoc markers as HTML: `[0, [markups opened], closed, text]`.
fn markers(markers: Option<&Value>, markups: &[Value]) -> String {
    let mut out = String::new();
    let mut open: Vec<&str> = Vec::new();
    for marker in markers.and_then(Value::as_array).into_iter().flatten() {
        for index in marker
            .get(1)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(markup) = index.as_u64().and_then(|i| markups.get(i as usize)) else {
                continue;
            };
            let tag = match markup.get(0).and_then(Value::as_str).unwrap_or("") {
                tag @ ("b" | "strong" | "i" | "em" | "code" | "s" | "u" | "sub" | "sup") => tag,
                "a" => {
                    let attributes = markup.get(1).and_then(Value::as_array);
                    let href = attributes
                        .and_then(|a| a.iter().position(|v| v == "href"))
                        .and_then(|at| attributes?.get(at + 1))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    out.push_str(&format!("<a href=\"{}\">", escape(href)));
                    open.push("a");
                    continue;
                }
                _ => "span",
            };
            out.push_str(&format!("<{tag}>"));
            open.push(tag);
        }
        if marker.get(0).and_then(Value::as_u64) == Some(0) {
            out.push_str(&escape(marker.get(3).and_then(Value::as_str).unwrap_or("")));
        }
        let closed = marker.get(2).and_then(Value::as_u64).unwrap_or(0);
        for _ in 0..closed {
            if let Some(tag) = open.pop() {
                out.push_str(&format!("</{tag}>"));
            }
        }
    }
    while let Some(tag) = open.pop() {
        out.push_str(&format!("</{tag}>"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_becomes_markdown_and_its_markdown_cards_stay() {
        let post = serde_json::json!({ "lexical": serde_json::json!({ "root": { "children": [
            { "type": "paragraph", "children": [
                { "type": "extended-text", "text": "A ", "format": 0 },
                { "type": "extended-text", "text": "bold", "format": 1 },
                { "type": "extended-text", "text": " 2 * 3 ", "format": 0 },
                { "type": "link", "url": "https://a.example", "children": [{ "type": "text", "text": "link", "format": 2 }] }
            ]},
            { "type": "markdown", "markdown": "* kept *as* is" },
            { "type": "codeblock", "code": "a < b", "language": "rust" },
            { "type": "signup" }
        ]}}).to_string() });
        assert_eq!(
            body(&post).unwrap(),
            "A **bold** 2 \\* 3 [*link*](https://a.example)\n\n* kept *as* is\n\n```rust\na < b\n```"
        );
    }

    #[test]
    fn mobiledoc_sections_and_cards() {
        let post = serde_json::json!({ "mobiledoc": serde_json::json!({
            "version": "0.3.1", "atoms": [],
            "markups": [["strong"], ["a", ["href", "https://a.example"]]],
            "cards": [["markdown", { "markdown": "## Card" }]],
            "sections": [
                [1, "p", [[0, [], 0, "Hello "], [0, [0], 1, "you"], [0, [1], 1, " there"]]],
                [10, 0],
                [3, "ul", [[[0, [], 0, "one"]], [[0, [], 0, "two"]]]]
            ]
        }).to_string() });
        assert_eq!(
            body(&post).unwrap(),
            "Hello **you** [there](https://a.example)\n\n## Card\n\n- one\n- two"
        );
    }
}
