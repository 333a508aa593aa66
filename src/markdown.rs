//! Markdown to safe HTML: comrak parses CommonMark with the GFM extensions,
//! then ammonia removes everything that could run script or restyle the page.
//!
//! Raw HTML in the source is passed through comrak on purpose so that
//! harmless tags (`<kbd>`, `<details>`) work; ammonia is the one gate for
//! what reaches the browser, whatever comrak emits.
//!
//! Rendering is work an author asks for, so it is bounded and done once:
//! posts, comments and the site's pages store their HTML with the
//! [`VERSION`] of the renderer that made it when they are written
//! ([`render_off_thread`]), and pages show what is stored. Parsing is linear in comrak, but html5ever (inside
//! ammonia) spends time in the square of the element nesting depth —
//! `'>' × 32,000` took 17 s — so output nested deeper than [`MAX_DEPTH`] is
//! refused before it reaches the sanitizer, and the whole render runs on a
//! blocking thread, a few at a time, within a time budget.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use sha2::Digest;
use tokio::sync::Semaphore;

use crate::db::{Db, Query};
use crate::error::Problem;

use comrak::nodes::NodeValue;
use comrak::{Arena, Options, format_html, parse_document};

static OPTIONS: LazyLock<Options<'static>> = LazyLock::new(|| {
    let mut options = Options::default();
    options.extension.strikethrough = true;
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    options.render.r#unsafe = true;
    options
});

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = content_sanitizer();
    builder
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .add_tags(&["input", "section"])
        .add_tag_attributes("input", &["checked"])
        // Uploaded images are laid out before they load (width, height)
        // and come in the size the screen needs (srcset, sizes).
        .add_tag_attributes("img", &["srcset", "sizes", "loading", "decoding"])
        // Task lists are the one reason for an input: every input becomes
        // a disabled checkbox, whatever type the source asked for.
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .set_tag_attribute_value("input", "aria-label", "Task")
        // Wide code and tables scroll; keyboard users must be able to reach them.
        .set_tag_attribute_value("pre", "tabindex", "0")
        .set_tag_attribute_value("table", "tabindex", "0")
        // The page has ids of its own (#comments, #reactions, the forms'):
        // an author's ids, footnotes' included, are prefixed, and so are
        // the in-page links that point at them.
        .id_prefix(Some(ID_PREFIX))
        .url_relative(ammonia::UrlRelative::Custom(Box::new(prefix_fragment)));
    builder
});

/// What every copy of rendered HTML keeps, on a page or in a feed: ammonia's
/// defaults, the ids footnote references and back-links point at, and code
/// blocks' language class.
fn content_sanitizer() -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        .add_tag_attributes("a", &["id"])
        .add_tag_attributes("li", &["id"])
        .add_tag_attributes("sup", &["id"])
        .add_tag_attributes("code", &["class"]);
    builder
}

/// Before every id an author's Markdown makes.
const ID_PREFIX: &str = "user-content-";

/// `#name` becomes `#user-content-name`, where the prefixed id is; other
/// relative links stay as written.
fn prefix_fragment(url: &str) -> Option<std::borrow::Cow<'_, str>> {
    Some(match url.strip_prefix('#') {
        Some(fragment) if !fragment.starts_with(ID_PREFIX) => {
            std::borrow::Cow::Owned(format!("#{ID_PREFIX}{fragment}"))
        }
        _ => std::borrow::Cow::Borrowed(url),
    })
}

/// The renderer's version, stored beside every HTML it makes. Raise it when
/// a change here changes the HTML (a sanitizer rule, an extension): stored
/// HTML of another version is made again the next time it is read.
pub const VERSION: i32 = 2;
const _: () = assert!(
    VERSION < 1000,
    "versions for image bases count in thousands"
);

/// The version stored with HTML whose images are served from `image_base`
/// (`None`: the site's own `/media`). HTML made for another base (a CDN
/// added, changed or dropped) is made again when it is next read, on
/// every replica alike, without a step at start: the base is part of the
/// version.
pub fn version_for(image_base: Option<&str>) -> i32 {
    let Some(base) = image_base else {
        return VERSION;
    };
    // Not std's hasher, which is seeded per process: replicas must agree.
    let digest = sha2::Sha256::digest(base.as_bytes());
    let hash = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // Below i32::MAX: 1000 × 2,000,000 + VERSION.
    VERSION + 1000 * (1 + (hash % 1_999_999) as i32)
}

/// How deeply the HTML may nest elements (Markdown quotes and lists count,
/// two levels per list). Real writing stays far below; each level more
/// costs the sanitizer time for every element inside it.
pub const MAX_DEPTH: usize = 48;

/// How long a render may take, waiting for a thread included.
const BUDGET: Duration = Duration::from_secs(3);

/// Why Markdown was not rendered: an answer to the author, not a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Refusal {
    TooDeep,
    TooSlow,
}

impl Refusal {
    /// What the author reads beside the field.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::TooDeep => {
                "nests too deeply (at most 48 levels of quotes, lists and HTML elements)"
            }
            Refusal::TooSlow => "took too long to render: make it shorter or simpler",
        }
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        Problem::Refused(refusal.message())
    }
}

/// An uploaded image as the renderer lays it out: its size, so the page
/// does not move as it loads, and its smaller copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// Where readers fetch the original.
    pub src: String,
    pub width: u32,
    pub height: u32,
    /// Every copy with its width, the original included; empty when the
    /// image has no smaller copies.
    pub sources: Vec<(String, u32)>,
}

/// The uploaded images a source shows, by the address it uses for each
/// (`/media/NAME`); made by `features::media::figures`.
pub type Figures = std::collections::HashMap<String, Figure>;

/// How wide an image is shown, for the browser to pick a copy before it
/// knows the layout: the width of the text column (`style.css`).
const IMAGE_SIZES: &str = "(max-width: 46rem) calc(100vw - 2rem), 44rem";

/// Renders user Markdown to HTML that is safe to embed in a page, on the
/// calling thread. Headings move one level down (`#` becomes `<h2>`): the
/// page's own title is its one `<h1>`, and the outline stays correct for
/// screen readers. Images in `figures` get their size and copies, and load
/// lazily. Requests use [`render_off_thread`].
pub fn render(source: &str, figures: &Figures) -> Result<String, Refusal> {
    let arena = Arena::new();
    let root = parse_document(&arena, source, &OPTIONS);
    let mut images = Vec::new();
    for node in root.descendants() {
        match &mut node.data_mut().value {
            NodeValue::Heading(heading) => heading.level = (heading.level + 1).min(6),
            NodeValue::Image(link) if figures.contains_key(&link.url) => images.push(node),
            _ => {}
        }
    }
    for node in images {
        let alt: String = node
            .descendants()
            .skip(1)
            .filter_map(|n| match &n.data().value {
                NodeValue::Text(text) => Some(text.to_string()),
                NodeValue::Code(code) => Some(code.literal.clone()),
                NodeValue::SoftBreak | NodeValue::LineBreak => Some(" ".to_owned()),
                _ => None,
            })
            .collect();
        let children: Vec<_> = node.children().collect();
        for child in children {
            child.detach();
        }
        let html = {
            let value = &node.data().value;
            let NodeValue::Image(link) = value else {
                unreachable!("collected as an image")
            };
            figure_html(&figures[&link.url], &alt, &link.title)
        };
        node.data_mut().value = NodeValue::HtmlInline(html);
    }
    let mut html = String::new();
    format_html(root, &OPTIONS, &mut html).expect("writing to a String cannot fail");
    if nesting_exceeds(&html, MAX_DEPTH) {
        return Err(Refusal::TooDeep);
    }
    Ok(SANITIZER.clean(&html).to_string())
}

/// An uploaded image's `<img>`. The sanitizer still checks it, as it does
/// all output.
fn figure_html(figure: &Figure, alt: &str, title: &str) -> String {
    let escape = |text: &str| ammonia::clean_text(text);
    let mut html = format!(
        r#"<img src="{}" alt="{}" width="{}" height="{}" loading="lazy" decoding="async""#,
        escape(&figure.src),
        escape(alt),
        figure.width,
        figure.height
    );
    if !title.is_empty() {
        html.push_str(&format!(r#" title="{}""#, escape(title)));
    }
    if !figure.sources.is_empty() {
        let srcset: Vec<String> = figure
            .sources
            .iter()
            .map(|(url, width)| format!("{} {width}w", escape(url)))
            .collect();
        html.push_str(&format!(
            r#" srcset="{}" sizes="{IMAGE_SIZES}""#,
            srcset.join(", ")
        ));
    }
    html.push('>');
    html
}

/// Renders on a blocking thread, at most one per core at a time, so that
/// requests keep being answered while authors write; a render that has not
/// finished within the budget is refused.
pub async fn render_off_thread(source: String, figures: Figures) -> Result<String, Refusal> {
    static RENDERERS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores))
    });
    let work = async {
        let permit = RENDERERS.clone().acquire_owned().await;
        // The permit goes with the thread: a render that outlives its
        // budget still holds its core until it ends.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            render(&source, &figures)
        })
        .await
    };
    match tokio::time::timeout(BUDGET, work).await {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(Refusal::TooSlow),
    }
}

/// Makes a row's stored HTML current, in place: made again when another
/// version of the renderer made it (or an older release changed the
/// source without it: the migrations' triggers mark such rows version 0),
/// and stored. `table` has `id`, `body`, `body_html` and
/// `body_html_version` columns; `current` is the version made now
/// ([`version_for`]). Stored sources the current rules refuse are shown as
/// plain text.
#[allow(clippy::too_many_arguments)]
pub async fn keep_current(
    db: &Db,
    table: StoredIn,
    id: i64,
    source: &str,
    html: &mut Option<String>,
    version: &mut i32,
    current: i32,
    figures: impl Future<Output = Result<Figures, sqlx::Error>>,
) -> Result<(), sqlx::Error> {
    if html.is_some() && *version == current {
        return Ok(());
    }
    let rendered = match render_off_thread(source.to_owned(), figures.await?).await {
        Ok(rendered) => rendered,
        Err(refusal) => {
            tracing::warn!(%refusal, table = table.name(), id, "stored Markdown shown as text");
            let text = format!("<pre>{}</pre>", ammonia::clean_text(source));
            if refusal == Refusal::TooSlow {
                // A busy moment: shown as text now, tried again next read.
                *html = Some(text);
                return Ok(());
            }
            text
        }
    };
    let sql = format!(
        "UPDATE {} SET body_html = $1, body_html_version = $2 WHERE id = $3 AND body = $4",
        table.name()
    );
    Query::assembled(sql)
        .bind(&rendered)
        .bind(current)
        .bind(id)
        .bind(source)
        .execute(db)
        .await?;
    *html = Some(rendered);
    *version = current;
    Ok(())
}

/// The tables that store rendered Markdown.
#[derive(Debug, Clone, Copy)]
pub enum StoredIn {
    Posts,
    Comments,
    Pages,
}

impl StoredIn {
    fn name(self) -> &'static str {
        match self {
            StoredIn::Posts => "posts",
            StoredIn::Comments => "comments",
            StoredIn::Pages => "pages",
        }
    }
}

/// Elements whose end tag the HTML parser implies when another of the same
/// kind starts (`<li>a<li>b` are siblings), and void elements, which never
/// hold anything.
const IMPLIED_END: &[&str] = &[
    "dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc", "tbody", "td", "tfoot",
    "th", "thead", "tr",
];
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Whether the elements of `html` nest deeper than `max`, as an HTML parser
/// would build them, counted from the tags without building a tree. It
/// errs towards deeper: an unclosed `<div>` counts as open to the end.
fn nesting_exceeds(html: &str, max: usize) -> bool {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let (closing, tag) = match rest.strip_prefix('/') {
            Some(tag) => (true, tag),
            None => (false, rest),
        };
        let name_len = tag
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(tag.len());
        if name_len == 0 || !tag.as_bytes()[0].is_ascii_alphabetic() {
            continue; // text, a comment, a doctype
        }
        let name = tag[..name_len].to_ascii_lowercase();
        if closing {
            if let Some(position) = open.iter().rposition(|n| *n == name) {
                open.truncate(position);
            }
            continue;
        }
        if VOID.contains(&name.as_str()) {
            continue;
        }
        let self_closing = tag[name_len..]
            .split('>')
            .next()
            .is_some_and(|attributes| attributes.ends_with('/'));
        if self_closing && open.iter().any(|n| n == "svg" || n == "math") {
            continue; // `<path/>` is empty in SVG and MathML, not in HTML
        }
        if IMPLIED_END.contains(&name.as_str()) {
            let siblings = open
                .iter()
                .rev()
                .take_while(|n| IMPLIED_END.contains(&n.as_str()))
                .position(|n| *n == name);
            if let Some(from_top) = siblings {
                open.truncate(open.len() - from_top - 1);
            }
        }
        open.push(name);
        if open.len() > max {
            return true;
        }
    }
    false
}

/// Minutes to read, at 200 words a minute, never less than one.
pub fn reading_minutes(source: &str) -> u32 {
    let words = source.split_whitespace().count() as u32;
    words.div_ceil(200).max(1)
}

/// The first words of rendered HTML as plain text, for a card, a feed's
/// summary or a page's description when the author wrote none: at most
/// `max` characters, cut between words, with "…" when cut. From the stored
/// HTML, so it costs no Markdown work.
pub fn excerpt(html: &str, max: usize) -> String {
    // Every tag dropped, the text kept (escaped): comrak ends each block
    // with a line break, so blocks stay apart.
    let text = ammonia::Builder::empty().clean(html).to_string();
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let mut excerpt = String::new();
    for word in text.split_whitespace() {
        let needed = word.chars().count() + usize::from(!excerpt.is_empty());
        if excerpt.chars().count() + needed > max {
            excerpt.push('…');
            return excerpt;
        }
        if !excerpt.is_empty() {
            excerpt.push(' ');
        }
        excerpt.push_str(word);
    }
    excerpt
}

/// The address of the first image in rendered HTML, as written there
/// (site-relative for uploads), for a page's preview card (OpenGraph),
/// with its `&amp;` read as `&`: templates escape it again.
pub fn first_image(html: &str) -> Option<String> {
    // The sanitizer's serializer writes every attribute in double quotes.
    let img = &html[html.find("<img ")?..];
    let tag = &img[..img.find('>')?];
    let src = &tag[tag.find(" src=\"")? + " src=\"".len()..];
    let src = &src[..src.find('"')?];
    (!src.is_empty()).then(|| src.replace("&amp;", "&"))
}

/// Stored HTML as a feed carries it, to be read away from the site: every
/// relative address made absolute against the post's own (`/media/…`,
/// `#footnote`), and what only the site's pages use (image copies for the
/// screen's size, lazy loading) left out.
pub fn for_feed(html: &str, post_url: &url::Url) -> String {
    let mut builder = content_sanitizer();
    builder.url_relative(ammonia::UrlRelative::RewriteWithBase(post_url.clone()));
    builder.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(source: &str) -> String {
        render(source, &Figures::new()).expect("renders")
    }

    #[test]
    fn excerpts_are_plain_text_cut_between_words() {
        let html = rendered("# Title\n\nSome *words* &amp; <b>more</b>.\n\n```\ncode\n```");
        assert_eq!(excerpt(&html, 100), "Title Some words & more. code");
        assert_eq!(excerpt(&html, 12), "Title Some…");
        assert_eq!(excerpt("", 10), "");
    }

    #[test]
    fn feeds_get_absolute_addresses_and_no_screen_sizes() {
        let post = url::Url::parse("https://blog.example/posts/a").unwrap();
        let html = r##"<p><a href="/tags/x">t</a> <a href="#user-content-fn-1">1</a> <img src="/media/a.png" srcset="/media/a.png/480.webp 480w" sizes="44rem" loading="lazy" alt="a"></p>"##;
        let fed = for_feed(html, &post);
        assert!(
            fed.contains(r#"href="https://blog.example/tags/x""#),
            "{fed}"
        );
        assert!(
            fed.contains(r##"href="https://blog.example/posts/a#user-content-fn-1""##),
            "{fed}"
        );
        assert!(
            fed.contains(r#"src="https://blog.example/media/a.png""#),
            "{fed}"
        );
        assert!(!fed.contains("srcset") && !fed.contains("loading"), "{fed}");
    }

    #[test]
    fn the_first_image_is_found_in_rendered_html() {
        let html = rendered("Text.\n\n![a](/media/x.png) ![b](https://e.example/b.jpg?a=1&b=2)");
        assert_eq!(first_image(&html).as_deref(), Some("/media/x.png"));
        assert_eq!(first_image("<p>none</p>"), None);
        let html = rendered("![b](https://e.example/b.jpg?a=1&b=2)");
        assert_eq!(
            first_image(&html).as_deref(),
            Some("https://e.example/b.jpg?a=1&b=2")
        );
    }

    #[test]
    fn renders_gfm() {
        let html = rendered(
            "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n\nSee https://example.com and ~~old~~[^1].\n\n[^1]: A note.\n",
        );
        assert!(html.contains("<h2>Title</h2>"), "{html}");
        assert!(html.contains("<table tabindex=\"0\">"), "{html}");
        assert!(html.contains("<code class=\"language-rust\">"), "{html}");
        assert!(html.contains("<a href=\"https://example.com\""), "{html}");
        assert!(html.contains("<del>old</del>"), "{html}");
        assert!(html.contains("A note."), "{html}");
        assert!(html.contains("href=\"#user-content-fn-1\""), "{html}");
    }

    #[test]
    fn removes_script_tags() {
        let html = rendered("hello <script>alert(1)</script> world");
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(!html.contains("alert(1)</script>"), "{html}");
    }

    #[test]
    fn removes_event_handlers() {
        for source in [
            "<img src=x onerror=alert(1)>",
            "<a href=\"#\" onclick=\"alert(1)\">x</a>",
            "<div onmouseover='alert(1)'>x</div>",
            "<svg onload=alert(1)>",
            "<IMG SRC=x OnErRoR=alert(1)>",
        ] {
            let html = rendered(source).to_lowercase();
            assert!(!html.contains("onerror"), "{source} -> {html}");
            assert!(!html.contains("onclick"), "{source} -> {html}");
            assert!(!html.contains("onmouseover"), "{source} -> {html}");
            assert!(!html.contains("onload"), "{source} -> {html}");
        }
    }

    #[test]
    fn removes_javascript_urls() {
        for source in [
            "[click](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
            "<a href=\"java&#x09;script:alert(1)\">x</a>",
            "![img](javascript:alert(1))",
            "<iframe src=\"javascript:alert(1)\"></iframe>",
            "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        ] {
            let html = rendered(source).to_lowercase();
            assert!(!html.contains("javascript:"), "{source} -> {html}");
            assert!(!html.contains("data:text/html"), "{source} -> {html}");
            assert!(!html.contains("<iframe"), "{source} -> {html}");
        }
    }

    #[test]
    fn removes_nested_and_broken_html() {
        for source in [
            "<scr<script>ipt>alert(1)</scr</script>ipt>",
            "<div><p><b><i><script>alert(1)</script></i></b></p></div>",
            "<style>body{display:none}</style>",
            "<form action=/logout method=post><button>x</button></form>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<p style=\"position:fixed;top:0\">overlay</p>",
        ] {
            let html = rendered(source).to_lowercase();
            assert!(!html.contains("<script"), "{source} -> {html}");
            assert!(!html.contains("<style"), "{source} -> {html}");
            assert!(!html.contains("<form"), "{source} -> {html}");
            assert!(!html.contains("onerror"), "{source} -> {html}");
            assert!(!html.contains("style="), "{source} -> {html}");
        }
    }

    #[test]
    fn survives_very_long_input() {
        let long = "word ".repeat(200_000);
        assert!(rendered(&long).len() > 1_000_000);
        let brackets = "[".repeat(50_000);
        assert!(!rendered(&brackets).is_empty());
    }

    #[test]
    fn refuses_deep_nesting_before_sanitizing() {
        // Each of these took the sanitizer seconds (quadratic in the depth).
        for source in [
            ">".repeat(32_000) + " x",
            "<div>".repeat(32_000),
            "<span>".repeat(1_000),
            "<div/>".repeat(1_000),
            (0..60)
                .map(|i| format!("{}- x\n", "  ".repeat(i)))
                .collect(),
        ] {
            assert_eq!(
                render(&source, &Figures::new()),
                Err(Refusal::TooDeep),
                "{}",
                &source[..20]
            );
        }
    }

    #[test]
    fn allows_ordinary_nesting() {
        let quotes = ">".repeat(20) + " deep";
        assert!(rendered(&quotes).contains("deep"));
        let lists: String = (0..10)
            .map(|i| format!("{}- level {i}\n", "  ".repeat(i)))
            .collect();
        assert!(rendered(&lists).contains("level 9"));
        // Siblings whose end tags are implied, and SVG's empty elements, do not nest.
        let items = format!("<ul>{}</ul>", "<li><p>item".repeat(500));
        assert!(rendered(&items).contains("item"));
        let svg = format!("<svg>{}</svg>x", "<path d=\"M0\"/>".repeat(500));
        assert!(rendered(&svg).contains('x'));
        let closed = "<div>a</div>".repeat(5_000);
        assert!(rendered(&closed).contains('a'));
    }

    #[test]
    fn counts_depth_as_a_parser_would() {
        assert!(!nesting_exceeds("<p>a<p>b<p>c", 1));
        assert!(nesting_exceeds("<div><div>", 1));
        assert!(!nesting_exceeds("<div></div><div></div>", 1));
        assert!(!nesting_exceeds("<br><hr><img src=x>", 0));
        assert!(!nesting_exceeds("a < b and <3 and <!-- x -->", 0));
        assert!(nesting_exceeds("<DIV><Div>", 1));
        assert!(!nesting_exceeds("<div><span></div><div>", 2));
    }

    #[tokio::test]
    async fn renders_off_the_async_threads() {
        let rendered = render_off_thread("*hi*".to_owned(), Figures::new()).await;
        assert_eq!(rendered.as_deref(), Ok("<p><em>hi</em></p>\n"));
        let deep = render_off_thread(">".repeat(100) + " x", Figures::new()).await;
        assert_eq!(deep, Err(Refusal::TooDeep));
    }

    #[test]
    fn keeps_harmless_html() {
        let html = rendered("Press <kbd>Ctrl</kbd>.\n\n- [x] done\n- [ ] todo");
        assert!(html.contains("<kbd>Ctrl</kbd>"), "{html}");
        assert!(html.contains("type=\"checkbox\""), "{html}");
    }

    #[test]
    fn headings_move_one_level_down() {
        let html = rendered("# One\n\n## Two\n\n###### Six");
        assert!(
            html.contains("<h2>One</h2>") && html.contains("<h3>Two</h3>"),
            "{html}"
        );
        assert!(html.contains("<h6>Six</h6>"), "{html}");
        assert!(!html.contains("<h1"), "{html}");
    }

    #[test]
    fn uploaded_images_get_their_size_and_copies() {
        let figures = Figures::from([(
            "/media/abc.jpg".to_owned(),
            Figure {
                src: "/media/abc.jpg".into(),
                width: 1000,
                height: 500,
                sources: vec![
                    ("/media/abc.jpg/480.webp".into(), 480),
                    ("/media/abc.jpg/960.webp".into(), 960),
                    ("/media/abc.jpg".into(), 1000),
                ],
            },
        )]);
        let html = render(
            "![A *cat* \"asleep\"](/media/abc.jpg \"Title\") and ![other](/x.png)",
            &figures,
        )
        .unwrap();
        assert!(
            html.contains(r#"<img src="/media/abc.jpg" alt="A cat &quot;asleep&quot;" width="1000" height="500" loading="lazy" decoding="async" title="Title" srcset="/media/abc.jpg/480.webp 480w, /media/abc.jpg/960.webp 960w, /media/abc.jpg 1000w" sizes="(max-width: 46rem) calc(100vw - 2rem), 44rem">"#),
            "{html}"
        );
        assert!(html.contains(r#"<img src="/x.png" alt="other">"#), "{html}");
    }

    #[test]
    fn reading_time() {
        assert_eq!(reading_minutes(""), 1);
        assert_eq!(reading_minutes(&"w ".repeat(401)), 3);
    }

    #[test]
    fn inputs_are_only_disabled_checkboxes() {
        for source in [
            "<input type=\"text\" name=\"csrf_token\" value=\"x\">",
            "<input type=\"submit\">",
            "<input>",
            "- [x] done",
        ] {
            let html = rendered(source);
            assert!(html.contains("<input"), "{source} -> {html}");
            assert!(html.contains("type=\"checkbox\""), "{source} -> {html}");
            assert!(html.contains("disabled"), "{source} -> {html}");
            for leak in ["type=\"text\"", "submit", "name=", "value="] {
                assert!(!html.contains(leak), "{source} -> {html}");
            }
        }
    }

    #[test]
    fn an_authors_ids_cannot_take_the_pages_own() {
        let html = rendered("<a id=\"comments\">x</a> and a note[^reactions]\n\n[^reactions]: n");
        assert!(!html.contains("id=\"comments\""), "{html}");
        assert!(html.contains("id=\"user-content-comments\""), "{html}");
        // Footnote links still reach their notes, and back.
        assert!(
            html.contains("href=\"#user-content-fn-reactions\""),
            "{html}"
        );
        assert!(html.contains("id=\"user-content-fn-reactions\""), "{html}");
        assert!(
            html.contains("href=\"#user-content-fnref-reactions\""),
            "{html}"
        );
        assert!(
            html.contains("id=\"user-content-fnref-reactions\""),
            "{html}"
        );
        // Other relative links are left as they are.
        assert!(rendered("[a](/posts/x)").contains("href=\"/posts/x\""));
    }

    /// Markdown and HTML fragments that have broken renderers and
    /// sanitizers, combined at random (`PROPTEST_CASES` runs more).
    fn hostile() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            Just(">".to_owned()),
            Just("- ".to_owned()),
            Just("1. ".to_owned()),
            Just("  ".to_owned()),
            Just("\n".to_owned()),
            Just("# ".to_owned()),
            Just("*".to_owned()),
            Just("_".to_owned()),
            Just("`".to_owned()),
            Just("[".to_owned()),
            Just("](".to_owned()),
            Just(")".to_owned()),
            Just("|".to_owned()),
            Just("[^a]".to_owned()),
            Just("<div>".to_owned()),
            Just("</div>".to_owned()),
            Just("<p>".to_owned()),
            Just("<li>".to_owned()),
            Just("<svg>".to_owned()),
            Just("<math>".to_owned()),
            Just("<script>".to_owned()),
            Just("<img src=x onerror=".to_owned()),
            Just("<a href=\"javascript:".to_owned()),
            Just("\" onclick=\"".to_owned()),
            Just("<style>".to_owned()),
            Just("<!--".to_owned()),
            Just("<input type=text name=csrf_token>".to_owned()),
            any::<char>().prop_map(String::from),
            "[a-z ]{1,8}",
        ];
        proptest::collection::vec(token, 0..120).prop_map(|tokens| tokens.concat())
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_never_lets_script_through(source in hostile()) {
            if let Ok(html) = render(&source, &Figures::new()) {
                // Read back as a browser would: text may say anything,
                // elements and attributes may not run or restyle.
                let page = scraper::Html::parse_fragment(&html);
                for element in page.root_element().descendants().filter_map(scraper::ElementRef::wrap) {
                    let tag = element.value().name();
                    proptest::prop_assert!(!matches!(tag, "script" | "style" | "iframe" | "form"), "{source:?} -> {html}");
                    for (name, value) in element.value().attrs() {
                        let value = value.trim().to_lowercase();
                        proptest::prop_assert!(!name.starts_with("on"), "{source:?} -> {html}");
                        proptest::prop_assert!(!value.starts_with("javascript:"), "{source:?} -> {html}");
                        proptest::prop_assert!(name != "style" && !(tag == "input" && name == "name"), "{source:?} -> {html}");
                    }
                }
                // What was rendered nests within the bound.
                proptest::prop_assert!(!nesting_exceeds(&html, MAX_DEPTH + 1));
            }
        }
    }
}
