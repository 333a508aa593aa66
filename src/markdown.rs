//! Markdown to safe HTML: comrak parses CommonMark with the GFM extensions,
//! then ammonia removes everything that could run script or restyle the page.
//!
//! Raw HTML in the source is passed through comrak on purpose so that
//! harmless tags (`<kbd>`, `<details>`) work; ammonia is the one gate for
//! what reaches the browser, whatever comrak emits.

use std::sync::LazyLock;

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
    let mut builder = ammonia::Builder::default();
    builder
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        // Footnote references and back-links point at ids.
        .add_tag_attributes("a", &["id"])
        .add_tag_attributes("li", &["id"])
        .add_tag_attributes("sup", &["id"])
        .add_tags(&["input", "section"])
        .add_tag_attributes("input", &["checked"])
        .add_tag_attributes("code", &["class"])
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

/// Renders user Markdown to HTML that is safe to embed in a page.
/// Headings move one level down (`#` becomes `<h2>`): the page's own title
/// is its one `<h1>`, and the outline stays correct for screen readers.
pub fn render(source: &str) -> String {
    let arena = Arena::new();
    let root = parse_document(&arena, source, &OPTIONS);
    for node in root.descendants() {
        if let NodeValue::Heading(heading) = &mut node.data_mut().value {
            heading.level = (heading.level + 1).min(6);
        }
    }
    let mut html = String::new();
    format_html(root, &OPTIONS, &mut html).expect("writing to a String cannot fail");
    SANITIZER.clean(&html).to_string()
}

/// Minutes to read, at 200 words a minute, never less than one.
pub fn reading_minutes(source: &str) -> u32 {
    let words = source.split_whitespace().count() as u32;
    words.div_ceil(200).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_gfm() {
        let html = render(
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
        let html = render("hello <script>alert(1)</script> world");
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
            let html = render(source).to_lowercase();
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
            let html = render(source).to_lowercase();
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
            let html = render(source).to_lowercase();
            assert!(!html.contains("<script"), "{source} -> {html}");
            assert!(!html.contains("<style"), "{source} -> {html}");
            assert!(!html.contains("<form"), "{source} -> {html}");
            assert!(!html.contains("onerror"), "{source} -> {html}");
            assert!(!html.contains("style="), "{source} -> {html}");
        }
    }

    #[test]
    fn survives_very_long_and_deeply_nested_input() {
        let long = "word ".repeat(200_000);
        assert!(render(&long).len() > 1_000_000);
        let nested = ">".repeat(10_000) + " deep";
        assert!(render(&nested).contains("deep"));
        let brackets = "[".repeat(50_000);
        assert!(!render(&brackets).is_empty());
    }

    #[test]
    fn keeps_harmless_html() {
        let html = render("Press <kbd>Ctrl</kbd>.\n\n- [x] done\n- [ ] todo");
        assert!(html.contains("<kbd>Ctrl</kbd>"), "{html}");
        assert!(html.contains("type=\"checkbox\""), "{html}");
    }

    #[test]
    fn headings_move_one_level_down() {
        let html = render("# One\n\n## Two\n\n###### Six");
        assert!(
            html.contains("<h2>One</h2>") && html.contains("<h3>Two</h3>"),
            "{html}"
        );
        assert!(html.contains("<h6>Six</h6>"), "{html}");
        assert!(!html.contains("<h1"), "{html}");
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
            let html = render(source);
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
        let html = render("<a id=\"comments\">x</a> and a note[^reactions]\n\n[^reactions]: n");
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
        assert!(render("[a](/posts/x)").contains("href=\"/posts/x\""));
    }
}
