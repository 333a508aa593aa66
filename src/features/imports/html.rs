//! HTML made Markdown, for the bodies of posts and comments imported from
//! WordPress and Ghost: an author who edits an imported post later edits
//! Markdown like the rest of theirs.
//!
//! What Markdown says as well (paragraphs, headings, emphasis, links,
//! images, lists, quotes, code, rules) becomes Markdown; what it does not
//! (a table with merged cells, an embedded video, a form) is kept as an
//! HTML block, which the renderer passes through the same sanitizer as
//! everything else. Text stays text: characters Markdown would read are
//! escaped. A crate does this (`htmd`), but on another version of the HTML
//! parser than the sanitizer's: this uses the one already linked
//! (docs/decisions.md).

use std::fmt::Write as _;

use html5ever::serialize::{SerializeOpts, TraversalScope, serialize};
use html5ever::tendril::TendrilSink;
use html5ever::{LocalName, QualName, local_name, ns, parse_fragment};
use markup5ever_rcdom::{Handle, NodeData, RcDom, SerializableHandle};

/// `html` (a fragment: a post's body) as Markdown.
pub fn to_markdown(html: &str) -> String {
    let dom = parse_fragment(
        RcDom::default(),
        Default::default(),
        QualName::new(None, ns!(html), local_name!("body")),
        Vec::new(),
        false,
    )
    .one(html);
    // The fragment's nodes are under an `<html>` the parser puts first.
    let root = dom.document.children.borrow().first().cloned();
    let mut blocks = Vec::new();
    if let Some(root) = root {
        write_blocks(&root, &mut blocks);
    }
    blocks.join("\n\n")
}

fn name(node: &Handle) -> Option<LocalName> {
    match &node.data {
        NodeData::Element { name, .. } => Some(name.local.clone()),
        _ => None,
    }
}

fn attribute(node: &Handle, wanted: &str) -> Option<String> {
    match &node.data {
        NodeData::Element { attrs, .. } => attrs
            .borrow()
            .iter()
            .find(|a| &*a.name.local == wanted)
            .map(|a| a.value.to_string()),
        _ => None,
    }
}

/// Elements that hold blocks and say nothing themselves: their children
/// are written as if they stood in their place.
fn is_transparent(tag: &str) -> bool {
    matches!(
        tag,
        "div" | "section" | "article" | "main" | "header" | "footer" | "aside" | "center"
    )
}

fn is_block(tag: &str) -> bool {
    is_transparent(tag)
        || matches!(
            tag,
            "p" | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "ul"
                | "ol"
                | "blockquote"
                | "pre"
                | "hr"
                | "figure"
                | "table"
                | "dl"
                | "iframe"
                | "video"
                | "audio"
                | "details"
                | "form"
                | "address"
                | "nav"
                | "script"
                | "style"
        )
}

/// The children of `parent` as Markdown blocks: runs of inline content
/// become paragraphs.
fn write_blocks(parent: &Handle, blocks: &mut Vec<String>) {
    let mut inline = String::new();
    for child in parent.children.borrow().iter() {
        let tag = name(child);
        match tag.as_deref() {
            Some(tag) if is_block(tag) => {
                paragraph(&mut inline, blocks);
                write_block(child, tag, blocks);
            }
            // A comment (WordPress's block delimiters among them) says
            // nothing to a reader.
            _ if matches!(child.data, NodeData::Comment { .. }) => {}
            _ => write_inline(child, &mut inline),
        }
    }
    paragraph(&mut inline, blocks);
}

/// Ends the paragraph gathered in `inline`, if it holds anything.
fn paragraph(inline: &mut String, blocks: &mut Vec<String>) {
    let text = line_starts_escaped(inline.trim());
    if !text.is_empty() {
        blocks.push(text);
    }
    inline.clear();
}

fn write_block(node: &Handle, tag: &str, blocks: &mut Vec<String>) {
    match tag {
        "p" => {
            let mut inline = String::new();
            inline_children(node, &mut inline);
            paragraph(&mut inline, blocks);
        }
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level = usize::from(tag.as_bytes()[1] - b'0');
            let mut text = String::new();
            inline_children(node, &mut text);
            // A heading is one line.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                blocks.push(format!("{} {text}", "#".repeat(level)));
            }
        }
        "ul" | "ol" => blocks.push(list(node, tag == "ol")),
        "blockquote" => {
            let mut inner = Vec::new();
            write_blocks(node, &mut inner);
            let quoted = inner
                .join("\n\n")
                .lines()
                .map(|line| {
                    if line.is_empty() {
                        ">".to_owned()
                    } else {
                        format!("> {line}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            if !quoted.is_empty() {
                blocks.push(quoted);
            }
        }
        "pre" => blocks.push(code_block(node)),
        "hr" => blocks.push("---".into()),
        "figure" => figure(node, blocks),
        "script" | "style" => {}
        _ if is_transparent(tag) => write_blocks(node, blocks),
        _ => blocks.push(html_block(node)),
    }
}

/// A list, each item's lines after the first indented under its marker
/// (nested lists included).
fn list(node: &Handle, ordered: bool) -> String {
    let start: usize = attribute(node, "start")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut items = Vec::new();
    for (index, item) in node
        .children
        .borrow()
        .iter()
        .filter(|c| name(c).as_deref() == Some("li"))
        .enumerate()
    {
        let marker = if ordered {
            format!("{}. ", start + index)
        } else {
            "- ".to_owned()
        };
        let mut inner = Vec::new();
        write_blocks(item, &mut inner);
        // A list in an item follows its text on the next line, so the
        // list stays tight (paragraphs' lines never start as a list's do:
        // they are escaped).
        let mut body = String::new();
        for block in inner {
            if !body.is_empty() {
                body.push_str(if is_list(&block) { "\n" } else { "\n\n" });
            }
            body.push_str(&block);
        }
        let indent = " ".repeat(marker.len());
        let mut lines = body.lines();
        let mut text = format!("{marker}{}", lines.next().unwrap_or_default());
        for line in lines {
            text.push('\n');
            if !line.is_empty() {
                text.push_str(&indent);
                text.push_str(line);
            }
        }
        items.push(text);
    }
    items.join("\n")
}

fn is_list(block: &str) -> bool {
    let digits = block.chars().take_while(char::is_ascii_digit).count();
    block.starts_with("- ") || (digits > 0 && block[digits..].starts_with(". "))
}

fn code_block(pre: &Handle) -> String {
    let code_element = pre
        .children
        .borrow()
        .iter()
        .find(|c| name(c).as_deref() == Some("code"))
        .cloned();
    let language = code_element
        .iter()
        .chain(std::iter::once(pre))
        .filter_map(|n| attribute(n, "class"))
        .flat_map(|class| {
            class
                .split_whitespace()
                .filter_map(|c| c.strip_prefix("language-").or(c.strip_prefix("lang-")))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .next()
        .unwrap_or_default();
    let mut code = String::new();
    text_content(pre, &mut code);
    let code = code.trim_end_matches('\n');
    // A fence longer than any run of backticks in the code.
    let mut fence = "```".to_owned();
    while code.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}{language}\n{code}\n{fence}")
}

/// A figure of one image and its caption: the image, then the caption in
/// italics. Any other figure (a table, an embed) stays HTML.
fn figure(node: &Handle, blocks: &mut Vec<String>) {
    let children: Vec<Handle> = node
        .children
        .borrow()
        .iter()
        .filter(|c| !is_blank_text(c))
        .cloned()
        .collect();
    let is_image = |node: &Handle| match name(node).as_deref() {
        Some("img") => true,
        // A linked image (to its full size, mostly).
        Some("a") => node
            .children
            .borrow()
            .iter()
            .filter(|c| !is_blank_text(c))
            .all(|c| name(c).as_deref() == Some("img")),
        _ => false,
    };
    let (image, caption) = match children.as_slice() {
        [image] if is_image(image) => (image, None),
        [image, caption] if is_image(image) && name(caption).as_deref() == Some("figcaption") => {
            (image, Some(caption))
        }
        _ => return blocks.push(html_block(node)),
    };
    let mut text = String::new();
    write_inline(image, &mut text);
    blocks.push(text.trim().to_owned());
    if let Some(caption) = caption {
        let mut text = String::new();
        inline_children(caption, &mut text);
        let text = text.trim();
        if !text.is_empty() {
            // `_`, not `*`: the caption's own emphasis is `*`.
            blocks.push(format!("_{text}_"));
        }
    }
}

fn is_blank_text(node: &Handle) -> bool {
    match &node.data {
        NodeData::Text { contents } => contents.borrow().trim().is_empty(),
        NodeData::Comment { .. } => true,
        _ => false,
    }
}

/// The element as HTML, as a Markdown HTML block: one that a blank line
/// inside would end, so there is none.
fn html_block(node: &Handle) -> String {
    let html = outer_html(node);
    html.lines()
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn outer_html(node: &Handle) -> String {
    let mut bytes = Vec::new();
    let handle = SerializableHandle::from(node.clone());
    let options = SerializeOpts {
        traversal_scope: TraversalScope::IncludeNode,
        ..Default::default()
    };
    // Writing to memory cannot fail.
    let _ = serialize(&mut bytes, &handle, options);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn inline_children(node: &Handle, out: &mut String) {
    for child in node.children.borrow().iter() {
        write_inline(child, out);
    }
}

fn write_inline(node: &Handle, out: &mut String) {
    match &node.data {
        NodeData::Text { contents } => push_text(&contents.borrow(), out),
        NodeData::Element { name: tag, .. } => {
            match &*tag.local {
                "strong" | "b" => wrapped(node, "**", out),
                "em" | "i" => wrapped(node, "*", out),
                "del" | "s" | "strike" => wrapped(node, "~~", out),
                "code" | "kbd" | "tt" => {
                    let mut code = String::new();
                    text_content(node, &mut code);
                    let ticks = if code.contains('`') { "`` " } else { "`" };
                    let closing: String = ticks.chars().rev().collect();
                    let _ = write!(out, "{ticks}{code}{closing}");
                }
                "br" => out.push_str("\\\n"),
                "a" => match attribute(node, "href") {
                    Some(href) => {
                        let mut text = String::new();
                        inline_children(node, &mut text);
                        // Spaces at the ends of a link's text go outside it.
                        if text.starts_with(char::is_whitespace) && !out.ends_with(' ') {
                            out.push(' ');
                        }
                        let _ = write!(
                            out,
                            "[{}]({}{})",
                            text.trim(),
                            destination(&href),
                            title(node)
                        );
                        if text.ends_with(char::is_whitespace) {
                            out.push(' ');
                        }
                    }
                    None => inline_children(node, out),
                },
                "img" => {
                    let alt = attribute(node, "alt").unwrap_or_default();
                    let mut escaped = String::new();
                    push_text(&alt, &mut escaped);
                    if let Some(src) = attribute(node, "src") {
                        let _ = write!(
                            out,
                            "![{}]({}{})",
                            escaped.trim(),
                            destination(&src),
                            title(node)
                        );
                    }
                }
                // Wrappers that say nothing Markdown can: their content
                // (their styles the sanitizer would remove anyway).
                "span" | "font" | "u" | "mark" | "small" | "big" | "abbr" | "cite" | "q" => {
                    inline_children(node, out)
                }
                "script" | "style" => {}
                // What Markdown has no word for (sup, sub, a button…).
                _ => out.push_str(&outer_html(node)),
            }
        }
        _ => {}
    }
}

fn wrapped(node: &Handle, marker: &str, out: &mut String) {
    let mut text = String::new();
    inline_children(node, &mut text);
    // Emphasis cannot start or end with a space: it goes outside.
    let trimmed = text.trim();
    if trimmed.is_empty() {
        out.push_str(&text);
        return;
    }
    if text.starts_with(char::is_whitespace) {
        out.push(' ');
    }
    let _ = write!(out, "{marker}{trimmed}{marker}");
    if text.ends_with(char::is_whitespace) {
        out.push(' ');
    }
}

/// A link's or an image's address, in angle brackets when it has spaces
/// or parentheses.
fn destination(url: &str) -> String {
    let url = url.trim();
    if url.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", url.replace('<', "%3C").replace('>', "%3E"))
    } else {
        url.to_owned()
    }
}

fn title(node: &Handle) -> String {
    match attribute(node, "title") {
        Some(title) if !title.trim().is_empty() => {
            format!(" \"{}\"", title.trim().replace('"', "\\\""))
        }
        _ => String::new(),
    }
}

fn text_content(node: &Handle, out: &mut String) {
    match &node.data {
        NodeData::Text { contents } => out.push_str(&contents.borrow()),
        NodeData::Element { .. } if name(node).as_deref() == Some("br") => out.push('\n'),
        _ => {
            for child in node.children.borrow().iter() {
                text_content(child, out);
            }
        }
    }
}

/// Text as Markdown shows it: white space collapsed as HTML does, and the
/// characters Markdown would read as syntax escaped.
fn push_text(text: &str, out: &mut String) {
    let mut last_space = out.ends_with([' ', '\n']);
    for (at, c) in text.char_indices() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        let escaped = match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '$' | '|' => true,
            // Only where it would start an entity ("&amp;"); a plain "&"
            // stays as the author wrote it.
            '&' => {
                let rest = &text[at + 1..];
                let name = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
                    .unwrap_or(rest.len());
                name > 0 && rest[name..].starts_with(';')
            }
            _ => false,
        };
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A paragraph's lines that Markdown would read as another block (a
/// heading, a list item, a quote, a rule) made to read as text.
fn line_starts_escaped(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
            if trimmed.starts_with(['#', '-', '+', '=']) {
                format!("{indent}\\{trimmed}")
            } else if digits > 0 && trimmed[digits..].starts_with(['.', ')']) {
                format!("{indent}{}\\{}", &trimmed[..digits], &trimmed[digits..])
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::to_markdown;

    #[test]
    fn what_markdown_says_becomes_markdown() {
        let html = "<h2>What to <em>pack</em></h2><p>A <strong>warm</strong> coat and \
                    <a href=\"https://example.com/a b\" title=\"Shop\">a map</a>.</p>\
                    <ul><li>Tea</li><li>Bread<ul><li>rye</li></ul></li></ul>\
                    <ol start=\"3\"><li>three</li><li>four</li></ol>\
                    <blockquote><p>Fog.</p><p>More fog.</p></blockquote><hr>\
                    <p>Line<br>break</p>";
        assert_eq!(
            to_markdown(html),
            "## What to *pack*\n\n\
             A **warm** coat and [a map](<https://example.com/a b> \"Shop\").\n\n\
             - Tea\n- Bread\n  - rye\n\n\
             3. three\n4. four\n\n\
             > Fog.\n>\n> More fog.\n\n---\n\nLine\\\nbreak"
        );
    }

    #[test]
    fn text_stays_text() {
        let html = "<p># not a heading</p><p>2 * 3 = 6, _underscored_, [pier 4], &lt;ish&gt;, \
                    &amp;amp; $5</p><p>1. not a list</p>";
        assert_eq!(
            to_markdown(html),
            "\\# not a heading\n\n\
             2 \\* 3 = 6, \\_underscored\\_, \\[pier 4\\], \\<ish\\>, \\&amp; \\$5\n\n\
             1\\. not a list"
        );
    }

    #[test]
    fn code_keeps_its_language_and_its_text() {
        let html = "<pre class=\"wp-block-code\"><code class=\"language-rust\">let x = a &lt;- b;\n\
                    // *not* emphasis\n</code></pre><p>Use <code>a_b</code>.</p>";
        assert_eq!(
            to_markdown(html),
            "```rust\nlet x = a <- b;\n// *not* emphasis\n```\n\nUse `a_b`."
        );
    }

    #[test]
    fn a_figure_is_its_image_and_caption_and_the_rest_stays_html() {
        let html = "<!-- wp:image --><figure class=\"wp-block-image\"><img src=\"/h.png\" alt=\"Harbour\">\
                    <figcaption>At dawn</figcaption></figure><!-- /wp:image -->\
                    <table><tr><td>a</td></tr>\n\n<tr><td>b</td></tr></table>\
                    <p>E = mc<sup>2</sup></p>";
        assert_eq!(
            to_markdown(html),
            "![Harbour](/h.png)\n\n_At dawn_\n\n\
             <table><tbody><tr><td>a</td></tr>\n<tr><td>b</td></tr></tbody></table>\n\n\
             E = mc<sup>2</sup>"
        );
    }

    #[test]
    fn scripts_say_nothing() {
        assert_eq!(
            to_markdown("<p>Hi<script>alert(1)</script></p><style>p{}</style>"),
            "Hi"
        );
    }
}
