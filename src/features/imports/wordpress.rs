//! A WordPress site's export (Tools → Export: WXR, an RSS file with
//! WordPress's own elements) read into [`Item`]s: posts and pages with
//! their drafts, dates, categories and tags (both become tags here), the
//! approved comments with their threads, by guests, and the images they
//! show, taken from the site's `uploads` folder when it lies beside the
//! file (`uploads/` or `wp-content/uploads/`). Images are never fetched
//! from the old site: it may be gone, and an import must not make this
//! server ask addresses a file names.
//!
//! Bodies are HTML ("classic" paragraphs separated by blank lines, or the
//! block editor's markup), made Markdown by [`super::html`] after
//! WordPress's shortcodes that have a meaning here are expanded.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use quick_xml::events::Event;

use super::{Item, ItemComment, ItemKind, Skipped, html, markdown};
use crate::db::Timestamp;

/// An element of the file, with what it holds.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child `name`, trimmed ("" when absent).
    fn get(&self, name: &str) -> &str {
        self.child(name).map_or("", |c| c.text.trim())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the post's metadata `key`.
    fn meta(&self, key: &str) -> Option<&str> {
        self.all("wp:postmeta")
            .find(|m| m.get("wp:meta_key") == key)
            .map(|m| m.get("wp:meta_value"))
    }
}

/// What the file says about the site, and its items.
struct Export {
    site_url: String,
    items: Vec<Element>,
    /// The site's authors: login, and email address.
    authors: HashMap<String, String>,
}

/// Reads the file: all of it, so that a file that ends badly is refused
/// before anything is written.
fn parse(reader: impl BufRead) -> anyhow::Result<Export> {
    let mut reader = quick_xml::Reader::from_reader(reader);
    let mut buffer = Vec::new();
    // The elements open now, the innermost last.
    let mut open: Vec<Element> = Vec::new();
    let mut export = Export {
        site_url: String::new(),
        items: Vec::new(),
        authors: HashMap::new(),
    };
    let mut seen_rss = false;
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buffer)
            .with_context(|| format!("the file is not well-formed XML (at byte {position})"))?;
        match event {
            Event::Start(start) => {
                let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
                seen_rss |= name == "rss";
                let mut attributes = Vec::new();
                for attribute in start.attributes().flatten() {
                    let value = attribute
                        .decoded_and_normalized_value(
                            quick_xml::XmlVersion::Implicit1_0,
                            reader.decoder(),
                        )
                        .map(|v| v.into_owned())
                        .unwrap_or_default();
                    let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
                    attributes.push((key, value));
                }
                open.push(Element {
                    name,
                    attributes,
                    ..Element::default()
                });
            }
            Event::Empty(_) => {}
            Event::End(_) => {
                let Some(element) = open.pop() else {
                    anyhow::bail!("the file is not well-formed XML (at byte {position})");
                };
                // Items and authors are kept whole.
                let in_item = open
                    .iter()
                    .any(|e| e.name == "item" || e.name == "wp:author");
                match open.last_mut() {
                    // An item is kept whole; the channel's other elements
                    // only for what they say of the site.
                    Some(parent) if element.name == "item" && parent.name == "channel" => {
                        export.items.push(element)
                    }
                    Some(parent) if element.name == "wp:author" && parent.name == "channel" => {
                        export.authors.insert(
                            element.get("wp:author_login").to_owned(),
                            element.get("wp:author_email").to_owned(),
                        );
                    }
                    Some(parent)
                        if parent.name == "channel"
                            && (element.name == "wp:base_site_url"
                                || (element.name == "link" && export.site_url.is_empty())) =>
                    {
                        export.site_url = element.text.trim().to_owned();
                    }
                    Some(parent) if in_item => parent.children.push(element),
                    _ => {}
                }
            }
            Event::Text(text) => {
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&text.decode()?);
                }
            }
            Event::CData(data) => {
                if let Some(element) = open.last_mut() {
                    element.text.push_str(&data.decode()?);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(element) = open.last_mut() {
                    let text = match reference.resolve_char_ref()? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = reference.decode()?;
                            quick_xml::escape::resolve_xml_entity(&name)
                                .map(str::to_owned)
                                .unwrap_or_else(|| format!("&{name};"))
                        }
                    };
                    element.text.push_str(&text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    if !open.is_empty() {
        anyhow::bail!(
            "the file ends inside <{}>: it is cut short",
            open[open.len() - 1].name
        );
    }
    if !seen_rss || export.site_url.is_empty() {
        anyhow::bail!("this is not a WordPress export (WXR): no <rss> with the site's address");
    }
    Ok(export)
}

/// Reads the export at `file`. Returns the site's address (which names
/// the source: a later export of the same site updates what this one
/// imported), the items and what was passed over.
pub fn read(file: &Path) -> anyhow::Result<(String, Vec<Item>, Vec<Skipped>)> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("{}", file.display()))?,
    );
    let export = parse(reader)?;
    let uploads = uploads_folder(file);
    let attachments: HashMap<&str, &str> = export
        .items
        .iter()
        .filter(|i| i.get("wp:post_type") == "attachment")
        .map(|i| (i.get("wp:post_id"), i.get("wp:attachment_url")))
        .collect();

    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for element in &export.items {
        let id = element.get("wp:post_id");
        let source_id = format!("{}:{id}", element.get("wp:post_type"));
        let kind = match (element.get("wp:post_type"), element.get("wp:status")) {
            ("attachment", _) => continue,
            (_, "trash" | "auto-draft" | "inherit") => {
                skipped.push(Skipped {
                    source_id,
                    reason: format!("in WordPress's {}", element.get("wp:status")),
                });
                continue;
            }
            ("post", "publish" | "future") => ItemKind::Post { draft: false },
            // A private post has no public place here: a draft, which its
            // author alone reads.
            ("post", _) => ItemKind::Post { draft: true },
            ("page", "publish") => ItemKind::Page,
            (other, state) => {
                skipped.push(Skipped::not_imported(source_id, other, state));
                continue;
            }
        };
        let (mut item, notes) = item(element, source_id, kind, &attachments, uploads.as_deref());
        let login = element.get("dc:creator");
        item.authors = [login, export.authors.get(login).map_or("", String::as_str)]
            .into_iter()
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        skipped.extend(notes);
        items.push(item);
    }
    Ok((export.site_url, items, skipped))
}

/// The folder of the site's uploads beside the export, if there is one.
fn uploads_folder(file: &Path) -> Option<PathBuf> {
    super::folder_beside(file, &["uploads", "wp-content/uploads"])
}

fn item(
    element: &Element,
    source_id: String,
    kind: ItemKind,
    attachments: &HashMap<&str, &str>,
    uploads: Option<&Path>,
) -> (Item, Vec<Skipped>) {
    let mut notes = Vec::new();
    let content = element.get("content:encoded");
    let (content, unknown) = shortcodes(content, attachments);
    for name in unknown {
        notes.push(Skipped {
            source_id: format!("{source_id} (shortcode [{name}])"),
            reason: "a plugin's shortcode: kept as text".into(),
        });
    }
    let mut body = html::to_markdown(&paragraphs(&content));
    // The featured image, first, unless the post shows it already.
    if let Some(url) = element
        .meta("_thumbnail_id")
        .and_then(|id| attachments.get(id))
        .filter(|url| !url.is_empty() && !body.contains(*url))
    {
        body = format!("![]({url})\n\n{body}");
    }
    let mut tags: Vec<String> = Vec::new();
    for category in element.all("category") {
        let nicename = category.attribute("nicename").unwrap_or_default();
        let is_term = matches!(category.attribute("domain"), Some("category" | "post_tag"));
        // WordPress files every post without a category under this one.
        if is_term && nicename != "uncategorized" {
            let name = category.text.trim().to_owned();
            if !name.is_empty() && !tags.contains(&name) {
                tags.push(name);
            }
        }
    }
    let published_at = match kind {
        ItemKind::Post { draft: false } => date(element, "wp:post_date_gmt"),
        _ => None,
    };
    let slug = percent_encoding::percent_decode_str(element.get("wp:post_name"))
        .decode_utf8_lossy()
        .into_owned();
    let old_paths = match url::Url::parse(element.get("link")) {
        // A draft's link is `/?p=44`, which no reader has had.
        Ok(link)
            if link.query().is_none() && (published_at.is_some() || kind == ItemKind::Page) =>
        {
            vec![link.path().to_owned()]
        }
        _ => Vec::new(),
    };
    // The site's uploads, found in the folder or not; other images are
    // elsewhere on the web, and left as they are.
    let images = super::images_of(&body, |reference| {
        reference
            .contains("/wp-content/uploads/")
            .then(|| uploads.and_then(|dir| uploaded_file(dir, reference)))
    });
    let comments = comments(element, &source_id, &mut notes);
    let item = Item {
        source_id,
        kind,
        title: element.get("title").to_owned(),
        slug,
        description: element.get("excerpt:encoded").to_owned(),
        body,
        published_at,
        created_at: date(element, "wp:post_date_gmt"),
        tags,
        old_paths,
        images,
        comments,
        authors: Vec::new(),
    };
    (item, notes)
}

/// WordPress writes `0000-00-00 00:00:00` for a date not set.
fn date(element: &Element, name: &str) -> Option<Timestamp> {
    markdown::parse_date(element.get(name))
}

/// The file in the uploads folder an address names
/// (`…/wp-content/uploads/2019/05/harbour-300x200.png`): that file, or the
/// original the smaller copy was made from. Only files inside the folder.
fn uploaded_file(uploads: &Path, reference: &str) -> Option<PathBuf> {
    let (_, path) = reference.split_once("/wp-content/uploads/")?;
    let path = percent_encoding::percent_decode_str(path.split(['?', '#']).next()?)
        .decode_utf8_lossy()
        .into_owned();
    let mut candidates = vec![uploads.join(&path)];
    // `name-300x200.png` → `name.png`
    if let Some((stem, extension)) = path.rsplit_once('.')
        && let Some((original, size)) = stem.rsplit_once('-')
        && size.split_once('x').is_some_and(|(w, h)| {
            !w.is_empty() && !h.is_empty() && (w.to_owned() + h).chars().all(|c| c.is_ascii_digit())
        })
    {
        candidates.push(uploads.join(format!("{original}.{extension}")));
    }
    candidates
        .into_iter()
        .find(|c| super::is_file_inside(c, uploads))
}

/// The approved comments, each with the nearest of its parents that is
/// imported too; spam, comments never approved, and pingbacks are not.
fn comments(element: &Element, post: &str, notes: &mut Vec<Skipped>) -> Vec<ItemComment> {
    let all: Vec<&Element> = element.all("wp:comment").collect();
    let parents: HashMap<&str, &str> = all
        .iter()
        .map(|c| (c.get("wp:comment_id"), c.get("wp:comment_parent")))
        .collect();
    let mut kept: Vec<&Element> = Vec::new();
    let mut passed = (0, 0, 0);
    for comment in &all {
        match (
            comment.get("wp:comment_approved"),
            comment.get("wp:comment_type"),
        ) {
            (_, "pingback" | "trackback") => passed.2 += 1,
            ("spam", _) => passed.0 += 1,
            ("1", _) => kept.push(comment),
            _ => passed.1 += 1,
        }
    }
    for (count, what) in [
        (passed.0, "marked as spam"),
        (passed.1, "not approved"),
        (passed.2, "pingbacks and trackbacks"),
    ] {
        if count > 0 {
            notes.push(Skipped {
                source_id: format!("{post} ({count} comments)"),
                reason: what.into(),
            });
        }
    }
    let kept_ids: Vec<&str> = kept.iter().map(|c| c.get("wp:comment_id")).collect();
    let mut out: Vec<ItemComment> = kept
        .iter()
        .map(|comment| {
            // Up the thread to a comment that is imported (at most as many
            // steps as there are comments: a loop in the file ends).
            let mut parent = comment.get("wp:comment_parent");
            for _ in 0..all.len() {
                if parent == "0" || parent.is_empty() || kept_ids.contains(&parent) {
                    break;
                }
                parent = parents.get(parent).copied().unwrap_or("0");
            }
            let parent = kept_ids
                .contains(&parent)
                .then(|| format!("comment:{parent}"));
            ItemComment {
                source_id: format!("comment:{}", comment.get("wp:comment_id")),
                parent,
                name: match comment.get("wp:comment_author") {
                    "" => "Anonymous".to_owned(),
                    name => name.to_owned(),
                },
                url: web_address(comment.get("wp:comment_author_url")),
                body: html::to_markdown(&paragraphs(comment.get("wp:comment_content"))),
                created_at: date(comment, "wp:comment_date_gmt"),
            }
        })
        .collect();
    super::parents_first(&mut out);
    out
}

/// An address a guest gave, if it is one a reader can follow.
fn web_address(text: &str) -> Option<String> {
    url::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(String::from)
}

/// Block-level tags: a run of text that starts with one is not wrapped in
/// a paragraph.
const BLOCKS: &[&str] = &[
    "<p",
    "<div",
    "<h1",
    "<h2",
    "<h3",
    "<h4",
    "<h5",
    "<h6",
    "<ul",
    "<ol",
    "<li",
    "<blockquote",
    "<pre",
    "<table",
    "<figure",
    "<hr",
    "<!--",
    "<dl",
    "<section",
    "<iframe",
    "<form",
];

/// WordPress's paragraphs (`wpautop`), as the classic editor saves text:
/// a blank line between paragraphs, a line break within one. Text that is
/// already in block markup (the block editor's) is left as it is, and so
/// is what is inside `<pre>`.
fn paragraphs(content: &str) -> String {
    let mut out = String::new();
    let mut rest = content;
    while !rest.is_empty() {
        // Up to the next <pre>, then the <pre> whole.
        let (text, pre, after) = match rest.find("<pre") {
            Some(start) => {
                let end = rest[start..]
                    .find("</pre>")
                    .map_or(rest.len(), |e| start + e + "</pre>".len());
                (&rest[..start], &rest[start..end], &rest[end..])
            }
            None => (rest, "", ""),
        };
        for chunk in text.replace("\r\n", "\n").split("\n\n") {
            let chunk = chunk.trim();
            if chunk.is_empty() {
                continue;
            }
            let lower = chunk.to_ascii_lowercase();
            if BLOCKS.iter().any(|tag| lower.starts_with(tag)) {
                out.push_str(chunk);
            } else {
                out.push_str("<p>");
                out.push_str(&chunk.replace('\n', "<br>\n"));
                out.push_str("</p>");
            }
            out.push('\n');
        }
        out.push_str(pre);
        rest = after;
    }
    out
}

/// The content with the shortcodes WordPress itself defines made HTML
/// (`[caption]`, `[gallery]`, `[embed]`, `[video]`, `[audio]`), and the
/// names of the others (a plugin's), which stay as text.
fn shortcodes(content: &str, attachments: &HashMap<&str, &str>) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            return (out, unknown);
        };
        let tag = &after[..close];
        let name_end = tag
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(tag.len());
        let name = &tag[..name_end];
        let attributes = shortcode_attributes(&tag[name_end..]);
        let enclosed = |rest: &str| {
            let end_tag = format!("[/{name}]");
            rest.find(&end_tag)
                .map(|end| (rest[..end].to_owned(), end + end_tag.len()))
        };
        let body_start = &after[close + 1..];
        let (html, consumed) = match name {
            // `[[name]]` is WordPress's way to write a shortcode as text.
            "" if tag.starts_with('[') => (format!("[{}]", &tag[1..]), close + 2),
            "caption" | "wp_caption" => match enclosed(body_start) {
                Some((inner, length)) => {
                    let (image, caption) = match inner.rfind('>') {
                        Some(at) => (&inner[..=at], inner[at + 1..].trim()),
                        None => ("", inner.trim()),
                    };
                    let caption = attributes.get("caption").map_or(caption, String::as_str);
                    (
                        format!("<figure>{image}<figcaption>{caption}</figcaption></figure>\n\n"),
                        close + 1 + length,
                    )
                }
                None => (String::new(), close + 1),
            },
            "embed" => match enclosed(body_start) {
                Some((url, length)) => {
                    let url = url.trim();
                    (
                        format!("\n\n<p><a href=\"{url}\">{url}</a></p>\n\n"),
                        close + 1 + length,
                    )
                }
                None => (String::new(), close + 1),
            },
            "gallery" => {
                let images: String = attributes
                    .get("ids")
                    .map(String::as_str)
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|id| attachments.get(id.trim()))
                    .map(|url| format!("<p><img src=\"{url}\" alt=\"\"></p>\n"))
                    .collect();
                (format!("\n\n{images}\n"), close + 1)
            }
            "video" | "audio" => {
                let source = attributes
                    .iter()
                    .find(|(key, _)| matches!(key.as_str(), "src" | "mp4" | "mp3" | "webm" | "ogg"))
                    .map(|(_, url)| url.clone())
                    .unwrap_or_default();
                let length = enclosed(body_start).map_or(0, |(_, length)| length);
                (
                    format!("<p><a href=\"{source}\">{source}</a></p>"),
                    close + 1 + length,
                )
            }
            // A plugin's: a lower-case name, alone or with `key=value`s
            // (`[pier 4]` and `[Klammern]` are brackets in the text).
            _ if name.starts_with(|c: char| c.is_ascii_lowercase())
                && !name.contains(|c: char| c.is_ascii_uppercase())
                && (tag.len() == name_end || tag[name_end..].contains('=')) =>
            {
                if !unknown.iter().any(|n| n == name) {
                    unknown.push(name.to_owned());
                }
                (format!("[{tag}]"), close + 1)
            }
            // Not a shortcode: brackets in the text.
            _ => ("[".to_owned(), 0),
        };
        out.push_str(&html);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    (out, unknown)
}

/// `id="5" title='Contact' width=300` as pairs.
fn shortcode_attributes(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = text.trim();
    while let Some(equals) = rest.find('=') {
        let key = rest[..equals].trim().to_ascii_lowercase();
        let value_start = rest[equals + 1..].trim_start();
        let (value, after) = match value_start.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let inner = &value_start[1..];
                match inner.find(quote) {
                    Some(end) => (&inner[..end], &inner[end + 1..]),
                    None => (inner, ""),
                }
            }
            _ => {
                let end = value_start.find(' ').unwrap_or(value_start.len());
                (&value_start[..end], &value_start[end..])
            }
        };
        out.insert(key, value.to_owned());
        rest = after.trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_paragraphs_and_line_breaks() {
        assert_eq!(
            paragraphs("One\nline\n\nTwo\n\n<pre>a\n\nb</pre>\n\n<h2>H</h2>"),
            "<p>One<br>\nline</p>\n<p>Two</p>\n<pre>a\n\nb</pre><h2>H</h2>\n"
        );
    }

    #[test]
    fn shortcodes_of_wordpress_are_html_and_others_are_named() {
        let attachments = HashMap::from([("12", "/a.png"), ("13", "/b.jpg")]);
        let (html, unknown) = shortcodes(
            "[caption id=\"attachment_12\" width=\"300\"]<img src=\"/a.png\" alt=\"A\" /> At dawn[/caption]\
             [gallery ids=\"12,13\"][embed]https://v.example/x[/embed][contact-form-7 id=\"5\"] \
             [[not]] [1] [pier 4] [Brackets] done",
            &attachments,
        );
        assert_eq!(
            html,
            "<figure><img src=\"/a.png\" alt=\"A\" /><figcaption>At dawn</figcaption></figure>\n\n\
             \n\n<p><img src=\"/a.png\" alt=\"\"></p>\n<p><img src=\"/b.jpg\" alt=\"\"></p>\n\n\
             \n\n<p><a href=\"https://v.example/x\">https://v.example/x</a></p>\n\n\
             [contact-form-7 id=\"5\"] [not] [1] [pier 4] [Brackets] done"
        );
        assert_eq!(unknown, ["contact-form-7"]);
    }

    #[test]
    fn a_file_cut_short_is_refused() {
        let text =
            "<rss><channel><wp:base_site_url>https://a.example</wp:base_site_url><item><title>A";
        let error = parse(text.as_bytes()).err().unwrap().to_string();
        assert!(error.contains("cut short"), "{error}");
        assert!(parse("<html></html>".as_bytes()).is_err());
    }
}
