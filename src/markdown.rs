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

use comrak::nodes::{AstNode, NodeValue};
use comrak::{Anchorizer, Arena, Options, format_html, parse_document};

/// What a text is, which decides what the renderer adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A post or a page: the one text on its page, so its headings get
    /// ids and links to themselves, and a long one a table of contents.
    Article,
    /// A comment or a bio: one of many on a page, where ids would repeat.
    Note,
}

static NOTE_OPTIONS: LazyLock<Options<'static>> = LazyLock::new(|| {
    let mut options = Options::default();
    options.extension.strikethrough = true;
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.extension.footnotes = true;
    // `$…$` and `$$…$$`, written as MathML by `mathml`. Pandoc's rule: no
    // space inside the dollars and no digit after the closing one, so
    // "$5 and $10" stays text.
    options.extension.math_dollars = true;
    options.render.r#unsafe = true;
    options
});

static ARTICLE_OPTIONS: LazyLock<Options<'static>> = LazyLock::new(|| {
    let mut options = NOTE_OPTIONS.clone();
    // Every heading gets an id from its text and an empty `<a
    // class="anchor">` to itself, which the style sheet shows as "#".
    options.extension.header_id_prefix = Some(String::new());
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
        .add_tag_attributes("a", &["id", "class", "aria-label"])
        .add_tag_attributes("li", &["id"])
        .add_tag_attributes("sup", &["id"])
        .add_tag_attributes("h2", &["id"])
        .add_tag_attributes("h3", &["id"])
        .add_tag_attributes("h4", &["id"])
        .add_tag_attributes("h5", &["id"])
        .add_tag_attributes("h6", &["id"])
        .add_tag_attributes("nav", &["class", "aria-label"])
        .add_tag_attributes("details", &["open"])
        .add_tag_attributes("code", &["class"])
        .add_tag_attributes("span", &["class"])
        // MathML Core's presentation elements, with the attributes that
        // lay them out; ammonia checks that they appear only inside
        // `<math>`, which closes the namespace-confusion tricks.
        .add_tags(MATHML)
        .add_tag_attributes("math", &["display"])
        .add_tag_attributes("annotation", &["encoding"])
        .add_tag_attributes(
            "mo",
            &[
                "stretchy",
                "fence",
                "separator",
                "lspace",
                "rspace",
                "minsize",
                "maxsize",
                "largeop",
                "movablelimits",
                "symmetric",
                "class",
            ],
        )
        .add_tag_attributes("mi", &["mathvariant"])
        .add_tag_attributes("mfrac", &["linethickness"])
        .add_tag_attributes("mover", &["accent"])
        .add_tag_attributes("munder", &["accentunder"])
        .add_tag_attributes("munderover", &["accent", "accentunder"])
        .add_tag_attributes("mspace", &["width", "height", "depth"])
        .add_tag_attributes(
            "mpadded",
            &["width", "height", "depth", "lspace", "voffset"],
        )
        .add_tag_attributes("mstyle", &["displaystyle", "scriptlevel"])
        .add_tag_attributes("mtable", &["class"])
        .add_tag_attributes("mtr", &["class"])
        .add_tag_attributes("mtd", &["class", "columnspan", "rowspan"])
        .attribute_filter(|element, attribute, value| {
            if attribute != "class" {
                return Some(value.into());
            }
            let kept: Vec<&str> = value
                .split_ascii_whitespace()
                .filter(|class| renderers_class(element, class))
                .collect();
            (!kept.is_empty()).then(|| kept.join(" ").into())
        });
    builder
}

/// The MathML elements `mathml` writes and readers' browsers draw.
const MATHML: &[&str] = &[
    "math",
    "semantics",
    "annotation",
    "mrow",
    "mi",
    "mn",
    "mo",
    "ms",
    "mspace",
    "mtext",
    "merror",
    "mfrac",
    "msqrt",
    "mroot",
    "mstyle",
    "mpadded",
    "mphantom",
    "msub",
    "msup",
    "msubsup",
    "munder",
    "mover",
    "munderover",
    "mmultiscripts",
    "mprescripts",
    "none",
    "mtable",
    "mtr",
    "mtd",
];

/// Whether a class on `element` is one the renderer gives (and the style
/// sheet styles): an author's own classes could restyle the page.
fn renderers_class(element: &str, class: &str) -> bool {
    match element {
        "code" => class.starts_with("language-"),
        "span" => class.starts_with(HIGHLIGHT_PREFIX),
        "a" => class == "anchor",
        "nav" => class == "toc",
        "mo" | "mtable" | "mtr" | "mtd" => {
            ["menv-", "cell-", "mop-"]
                .iter()
                .any(|prefix| class.starts_with(prefix))
                || class == "small"
        }
        _ => false,
    }
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
pub const VERSION: i32 = 3;
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
/// lazily; fenced code is highlighted and math written as MathML, so
/// readers need no script for either. Requests use [`render_off_thread`].
pub fn render(source: &str, figures: &Figures, shape: Shape) -> Result<String, Refusal> {
    let arena = Arena::new();
    let options = match shape {
        Shape::Article => &*ARTICLE_OPTIONS,
        Shape::Note => &*NOTE_OPTIONS,
    };
    let root = parse_document(&arena, source, options);
    let mut images = Vec::new();
    let mut formulas = Vec::new();
    let mut code = Vec::new();
    for node in root.descendants() {
        match &mut node.data_mut().value {
            NodeValue::Heading(heading) => heading.level = (heading.level + 1).min(6),
            NodeValue::Image(link) if figures.contains_key(&link.url) => images.push(node),
            NodeValue::Math(_) => formulas.push(node),
            NodeValue::CodeBlock(block) if block.fenced => code.push(node),
            _ => {}
        }
    }
    for node in formulas {
        let html = match &node.data().value {
            NodeValue::Math(math) => mathml(&math.literal, math.display_math),
            _ => unreachable!("collected as math"),
        };
        node.data_mut().value = NodeValue::HtmlInline(html);
    }
    let mut budget = MAX_HIGHLIGHTED;
    for node in code {
        let html = match &node.data().value {
            NodeValue::CodeBlock(block) => highlighted(&block.info, &block.literal, &mut budget),
            _ => unreachable!("collected as code"),
        };
        if let Some(html) = html {
            node.data_mut().value = NodeValue::HtmlBlock(comrak::nodes::NodeHtmlBlock {
                block_type: 0,
                literal: html,
            });
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
    let mut html = match shape {
        Shape::Article => contents(root).unwrap_or_default(),
        Shape::Note => String::new(),
    };
    format_html(root, options, &mut html).expect("writing to a String cannot fail");
    if nesting_exceeds(&html, MAX_DEPTH) {
        return Err(Refusal::TooDeep);
    }
    Ok(SANITIZER.clean(&html).to_string())
}

/// A post with this many headings or more opens with a table of contents.
const HEADINGS_FOR_CONTENTS: usize = 3;

/// The table of contents of a long article: its two highest levels of
/// headings, linked by the ids the renderer gives them (comrak's
/// `Anchorizer`, over every heading in document order, as it does when it
/// writes them).
fn contents<'a>(root: &'a AstNode<'a>) -> Option<String> {
    let mut anchors = Anchorizer::new();
    let headings: Vec<(u8, String, String)> = root
        .descendants()
        .filter_map(|node| {
            let NodeValue::Heading(heading) = &node.data().value else {
                return None;
            };
            let text = node.collect_text();
            let id = anchors.anchorize(&text);
            Some((heading.level, text, id))
        })
        .collect();
    let top = headings.iter().map(|(level, ..)| *level).min()?;
    let listed: Vec<_> = headings
        .iter()
        .filter(|(level, ..)| *level <= top + 1)
        .collect();
    if listed.len() < HEADINGS_FOR_CONTENTS {
        return None;
    }
    let mut html = String::from(
        r#"<nav class="toc" aria-label="Contents"><details open><summary>Contents</summary><ol>"#,
    );
    let (mut item_open, mut sublist_open) = (false, false);
    for (level, text, id) in listed {
        let link = format!(r##"<a href="#{id}">{}</a>"##, ammonia::clean_text(text));
        if *level > top && item_open {
            if !sublist_open {
                html.push_str("<ol>");
                sublist_open = true;
            }
            html.push_str(&format!("<li>{link}</li>"));
            continue;
        }
        if sublist_open {
            html.push_str("</ol>");
            sublist_open = false;
        }
        if item_open {
            html.push_str("</li>");
        }
        html.push_str(&format!("<li>{link}"));
        item_open = true;
    }
    if sublist_open {
        html.push_str("</ol>");
    }
    if item_open {
        html.push_str("</li>");
    }
    html.push_str("</ol></details></nav>\n");
    Some(html)
}

/// Before the classes of highlighted code (`hl-keyword`, `hl-string`…),
/// which the style sheet colours for the light and the dark theme.
const HIGHLIGHT_PREFIX: &str = "hl-";
/// How much code one text may have highlighted; the rest is shown plain.
/// Highlighting runs regular expressions over every line: bounded so that
/// a text made to be slow costs a known amount.
const MAX_HIGHLIGHTED: usize = 256 * 1024;
/// Lines longer than this (minified code, data) leave their block plain.
const MAX_HIGHLIGHTED_LINE: usize = 2000;

/// The kinds of token the style sheet colours, each with the TextMate
/// scopes (which every syntax uses) that it stands for. The most specific
/// selector wins, as in an editor's theme: `storage.type` is a type,
/// `storage` a keyword.
const TOKENS: &[(&str, &str)] = &[
    ("comment", "comment"),
    ("string", "string, constant.character, markup.raw"),
    ("number", "constant.numeric"),
    (
        "constant",
        "constant.language, constant.other, support.constant, variable.language",
    ),
    (
        "keyword",
        "keyword, storage, keyword.operator.word, storage.type.function, storage.type.class, storage.type.struct, storage.type.enum, storage.type.trait, storage.type.impl, storage.type.module",
    ),
    ("operator", "keyword.operator, punctuation.accessor"),
    (
        "type",
        "entity.name.type, entity.name.class, entity.other.inherited-class, support.type, support.class, storage.type",
    ),
    (
        "function",
        "entity.name.function, support.function, variable.function",
    ),
    ("tag", "entity.name.tag"),
    (
        "attribute",
        "entity.other.attribute-name, support.type.property-name",
    ),
    ("heading", "markup.heading, entity.name.section"),
    ("inserted", "markup.inserted"),
    ("deleted", "markup.deleted, invalid"),
];

static SYNTAXES: LazyLock<syntect::parsing::SyntaxSet> =
    LazyLock::new(syntect::parsing::SyntaxSet::load_defaults_newlines);

/// A theme in syntect's terms whose "colours" are indexes into [`TOKENS`]
/// (red = index + 1), so its scope matching yields a class, not a colour:
/// the page keeps its colours in the style sheet, one set per theme.
static TOKEN_THEME: LazyLock<syntect::highlighting::Theme> = LazyLock::new(|| {
    use syntect::highlighting::{Color, StyleModifier, Theme, ThemeItem, ThemeSettings};
    let index = |i: usize| Color {
        r: i as u8,
        g: 0,
        b: 0,
        a: 0xff,
    };
    Theme {
        settings: ThemeSettings {
            foreground: Some(index(0)),
            ..ThemeSettings::default()
        },
        scopes: TOKENS
            .iter()
            .enumerate()
            .map(|(i, (_, selectors))| ThemeItem {
                scope: selectors.parse().expect("the selectors above are valid"),
                style: StyleModifier {
                    foreground: Some(index(i + 1)),
                    ..StyleModifier::default()
                },
            })
            .collect(),
        ..Theme::default()
    }
});

/// A fenced block as highlighted HTML, when its language (the first word
/// of the info string) is known and it fits in what is left of `budget`.
fn highlighted(info: &str, code: &str, budget: &mut usize) -> Option<String> {
    let language = info.split_whitespace().next()?;
    let plain_name = |c: char| c.is_ascii_alphanumeric() || "+#-_.".contains(c);
    if language.len() > 32 || !language.chars().all(plain_name) {
        return None;
    }
    if code.len() > *budget || code.lines().any(|line| line.len() > MAX_HIGHLIGHTED_LINE) {
        return None;
    }
    let syntax = SYNTAXES.find_syntax_by_token(language)?;
    let mut lines = syntect::easy::HighlightLines::new(syntax, &TOKEN_THEME);
    let mut html = format!("<pre><code class=\"language-{language}\">");
    for line in syntect::util::LinesWithEndings::from(code) {
        for (style, text) in lines.highlight_line(line, &SYNTAXES).ok()? {
            let escaped = minijinja::HtmlEscape(text);
            match TOKENS.get((style.foreground.r as usize).wrapping_sub(1)) {
                Some((token, _)) if !text.trim().is_empty() => {
                    html.push_str(&format!(
                        "<span class=\"{HIGHLIGHT_PREFIX}{token}\">{escaped}</span>"
                    ));
                }
                _ => html.push_str(&escaped.to_string()),
            }
        }
    }
    html.push_str("</code></pre>\n");
    *budget -= code.len();
    Some(html)
}

/// LaTeX as MathML Core, which browsers draw without script; the source
/// goes with it as an annotation (copied with the formula, read by some
/// screen readers). LaTeX it cannot read shows the error in place.
fn mathml(latex: &str, display: bool) -> String {
    use pulldown_latex::config::DisplayMode;
    // The converter recurses into groups: what nests deeper than any real
    // formula is shown as its source instead of reaching it.
    if latex_depth(latex) > MAX_DEPTH {
        return format!("<code>{}</code>", ammonia::clean_text(latex));
    }
    let storage = pulldown_latex::Storage::new();
    let parser = pulldown_latex::Parser::new(latex, &storage);
    let config = pulldown_latex::RenderConfig {
        display_mode: if display {
            DisplayMode::Block
        } else {
            DisplayMode::Inline
        },
        ..pulldown_latex::RenderConfig::with_annotation(latex)
    };
    let mut html = String::new();
    match pulldown_latex::push_mathml(&mut html, parser, config) {
        Ok(()) => html,
        Err(_) => format!("<code>{}</code>", ammonia::clean_text(latex)),
    }
}

/// How deeply LaTeX nests: groups, `\left…\right`, environments, and
/// commands that take what follows as an argument without braces
/// (`\sqrt\sqrt x`), counted generously.
fn latex_depth(latex: &str) -> usize {
    let (mut depth, mut deepest, mut commands_in_a_row) = (0usize, 0usize, 0usize);
    let mut chars = latex.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut name = String::new();
                while let Some(&next) = chars.peek().filter(|c| c.is_ascii_alphabetic()) {
                    name.push(next);
                    chars.next();
                }
                if name.is_empty() {
                    chars.next(); // `\{`, `\\`: an escaped character
                    commands_in_a_row = 0;
                    continue;
                }
                match name.as_str() {
                    "left" | "begin" => depth += 1,
                    "right" | "end" => depth = depth.saturating_sub(1),
                    _ => commands_in_a_row += 1,
                }
            }
            '{' => {
                depth += 1;
                commands_in_a_row = 0;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                commands_in_a_row = 0;
            }
            c if c.is_whitespace() => {}

            _ => commands_in_a_row = 0,
        }
        deepest = deepest.max(depth + commands_in_a_row);
    }
    deepest
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
pub async fn render_off_thread(
    source: String,
    figures: Figures,
    shape: Shape,
) -> Result<String, Refusal> {
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
            render(&source, &figures, shape)
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
    let rendered = match render_off_thread(source.to_owned(), figures.await?, table.shape()).await {
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

    /// What the rows of the table are.
    pub fn shape(self) -> Shape {
        match self {
            StoredIn::Posts | StoredIn::Pages => Shape::Article,
            StoredIn::Comments => Shape::Note,
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
        render(source, &Figures::new(), Shape::Note).expect("renders")
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
                render(&source, &Figures::new(), Shape::Article),
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
        let rendered = render_off_thread("*hi*".to_owned(), Figures::new(), Shape::Note).await;
        assert_eq!(rendered.as_deref(), Ok("<p><em>hi</em></p>\n"));
        let deep = render_off_thread(">".repeat(100) + " x", Figures::new(), Shape::Note).await;
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
            Shape::Note,
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

    #[test]
    fn headings_link_to_themselves_and_long_articles_get_contents() {
        let source = "# One\n\ntext\n\n## One a\n\n# Two & *more*\n\n#### Deep\n\n# One\n";
        let article = |source: &str| render(source, &Figures::new(), Shape::Article).unwrap();
        let html = article(source);
        assert!(
            html.contains(r##"<h2 id="user-content-one">One<a href="#user-content-one" aria-label="Link to heading 'One'" class="anchor" rel="noopener noreferrer nofollow ugc"></a></h2>"##),
            "{html}"
        );
        // A repeated heading gets its own id, and the contents point at it.
        assert!(html.contains(r#"id="user-content-one-1""#), "{html}");
        let toc = &html[..html.find("</nav>").expect("a table of contents")];
        assert!(
            toc.starts_with(r#"<nav class="toc" aria-label="Contents"><details open=""><summary>Contents</summary><ol><li>"#),
            "{toc}"
        );
        let toc = toc.replace(r#" rel="noopener noreferrer nofollow ugc""#, "");
        assert!(
            toc.contains(r##"<li><a href="#user-content-one">One</a><ol><li><a href="#user-content-one-a">One a</a></li></ol></li>"##),
            "{toc}"
        );
        assert!(
            toc.contains(r##"<a href="#user-content-two--more">Two &amp; more</a>"##),
            "{toc}"
        );
        assert!(!toc.contains("Deep"), "two levels only: {toc}");
        // Short articles and comments have none; comments no heading ids.
        assert!(!article("# One\n\n# Two\n").contains("<nav"));
        let note = render(source, &Figures::new(), Shape::Note).unwrap();
        assert!(!note.contains("<nav") && !note.contains(" id="), "{note}");
    }

    #[test]
    fn fenced_code_is_highlighted_with_classes_only() {
        let html = rendered("```rust\nfn main() { let s = \"<b>\"; } // done\n```\n");
        assert!(
            html.starts_with(r#"<pre tabindex="0"><code class="language-rust">"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="hl-keyword"#)
                || html.contains(r#"<span class="hl-storage"#),
            "{html}"
        );
        assert!(html.contains("hl-comment"), "{html}");
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("<b>"),
            "{html}"
        );
        assert!(!html.contains("style="), "{html}");
        // Unknown languages and odd info strings stay plain, as written.
        let plain = rendered("```nosuchlanguage\nx = 1\n```\n");
        assert!(
            plain.contains(r#"<code class="language-nosuchlanguage">x = 1"#),
            "{plain}"
        );
        // An author's own classes do not survive; the renderer's do.
        let own = rendered(
            r#"<span class="visually-hidden hl-x">a</span> <code class="language-x evil">b</code> <a class="anchor other" href="/">c</a>"#,
        );
        assert!(
            own.contains(r#"<span class="hl-x">"#) && own.contains(r#"<code class="language-x">"#),
            "{own}"
        );
        assert!(own.contains(r#"<a class="anchor" href="/""#), "{own}");
        assert!(
            !own.contains("visually-hidden") && !own.contains("evil") && !own.contains("other"),
            "{own}"
        );
    }

    #[test]
    fn highlighting_is_bounded() {
        let line = format!(
            "```js\nvar x = \"{}\";\n```\n",
            "a".repeat(MAX_HIGHLIGHTED_LINE)
        );
        assert!(
            !rendered(&line).contains("hl-"),
            "a very long line stays plain"
        );
        let block = format!("```js\n{}```\n", "var x = 1;\n".repeat(20_000));
        let html = rendered(&format!("{block}\n{block}"));
        assert_eq!(html.matches("<pre").count(), 2);
        let second = &html[html.rfind("<pre").unwrap()..];
        assert!(
            html.contains("hl-") && !second.contains("hl-"),
            "past the budget, plain"
        );
    }

    #[test]
    fn math_becomes_mathml() {
        let html = rendered(
            "Euler: $e^{i\\pi} + 1 = 0$ and\n\n$$\\frac{a}{b}$$\n\nbut $5 and $10 stay text.",
        );
        assert!(
            html.contains(r#"<math display="inline"><semantics>"#),
            "{html}"
        );
        assert!(html.contains(r#"<math display="block">"#), "{html}");
        assert!(html.contains("<mfrac>"), "{html}");
        assert!(
            html.contains(
                r#"<annotation encoding="application/x-tex">e^{i\pi} + 1 = 0</annotation>"#
            ),
            "{html}"
        );
        assert!(html.contains("$5 and $10 stay text"), "{html}");
        // Errors show in place; script never gets through the formula.
        let bad =
            rendered(r#"$\frac{<script>alert(1)</script>$ and $\href{javascript:alert(1)}{x}$"#);
        assert!(
            !bad.contains("<script") && !bad.contains("=\"javascript:"),
            "{bad}"
        );
        assert!(bad.contains("<merror>"), "{bad}");
        // Nesting past the bound is shown as its source.
        let deep = rendered(&format!("${}x{}$", "{".repeat(200), "}".repeat(200)));
        assert!(
            deep.contains("<code>{{{") && !deep.contains("<math"),
            "{deep}"
        );
        let chained = rendered(&format!("${}x$", "\\sqrt".repeat(5000)));
        assert!(
            chained.contains("<code>") && !chained.contains("<math"),
            "{chained}"
        );
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
            Just("$".to_owned()),
            Just("$$".to_owned()),
            Just("\\frac{".to_owned()),
            Just("}".to_owned()),
            Just("```rust\n".to_owned()),
            Just("<mtext>".to_owned()),
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
            if let Ok(html) = render(&source, &Figures::new(), Shape::Article) {
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
