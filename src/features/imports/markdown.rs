//! A folder of Markdown files with front matter, as Jekyll and Hugo keep a
//! site, read into [`Item`]s.
//!
//! - Jekyll (a `_posts` folder or `_config.yml`): posts in `_posts`,
//!   drafts in `_drafts`, pages are the Markdown files at the top. The
//!   date comes from the front matter or the file's name
//!   (`2019-05-12-title.md`); the old address from `permalink` (the site's,
//!   in `_config.yml`, or the post's own), plus `redirect_from`.
//! - Hugo (a `content` folder): posts in its sections (`content/posts/…`,
//!   page bundles as `…/name/index.md`), pages at its top; the old address
//!   from the site's `[permalinks]`, the post's `url`, plus `aliases`.
//! - Anything else: every Markdown file is a post.
//!
//! Front matter is YAML between `---` lines or TOML between `+++` lines:
//! `title`, `date`, `draft` (or Jekyll's `published: false`), `tags`,
//! `categories` (kept as tags), `slug`, `description` (or `summary`,
//! `excerpt`). Images the text shows from the folder are found and
//! imported with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Item, ItemKind, Skipped};
use crate::db::Timestamp;

/// Files larger than this are not Markdown anyone wrote by hand.
const MAX_FILE_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Jekyll,
    Hugo,
    Plain,
}

/// Every post and page of the site at `root`, and the files passed over
/// with why.
pub fn read(root: &Path) -> anyhow::Result<(Vec<Item>, Vec<Skipped>)> {
    let root = root
        .canonicalize()
        .with_context(|| format!("{}: no such folder", root.display()))?;
    if !root.is_dir() {
        anyhow::bail!("{} is not a folder of Markdown files", root.display());
    }
    let layout = if root.join("_posts").is_dir() || root.join("_config.yml").is_file() {
        Layout::Jekyll
    } else if root.join("content").is_dir() {
        Layout::Hugo
    } else {
        Layout::Plain
    };
    let site = Site::read(&root, layout);
    let mut items = Vec::new();
    let mut skipped = Vec::new();
    for file in markdown_files(&root) {
        let source_id = relative(&root, &file);
        let Some(kind) = site.kind_of(&source_id) else {
            continue;
        };
        match read_file(&site, &file, &source_id, kind) {
            Ok(item) => items.push(item),
            Err(reason) => skipped.push(Skipped {
                source_id,
                reason: format!("{reason:#}"),
            }),
        }
    }
    Ok((items, skipped))
}

/// What the site's configuration says about addresses.
struct Site {
    root: PathBuf,
    layout: Layout,
    /// Jekyll's `permalink`, or Hugo's `[permalinks]` by section.
    permalinks: BTreeMap<String, String>,
}

impl Site {
    fn read(root: &Path, layout: Layout) -> Self {
        let mut permalinks = BTreeMap::new();
        match layout {
            Layout::Jekyll => {
                let config = std::fs::read_to_string(root.join("_config.yml")).unwrap_or_default();
                let fields = yaml_fields(&config).unwrap_or_default();
                let pattern = match fields.get("permalink").and_then(Value::text).as_deref() {
                    None | Some("date") => "/:categories/:year/:month/:day/:title:output_ext",
                    Some("pretty") => "/:categories/:year/:month/:day/:title/",
                    Some("ordinal") => "/:categories/:year/:y_day/:title:output_ext",
                    Some("none") => "/:categories/:title:output_ext",
                    Some(custom) => custom,
                }
                .to_owned();
                permalinks.insert(String::new(), pattern);
            }
            Layout::Hugo => {
                for name in ["hugo.toml", "config.toml"] {
                    let Ok(text) = std::fs::read_to_string(root.join(name)) else {
                        continue;
                    };
                    if let Ok(config) = text.parse::<toml::Table>()
                        && let Some(toml::Value::Table(table)) = config.get("permalinks")
                    {
                        for (section, pattern) in table {
                            if let toml::Value::String(pattern) = pattern {
                                permalinks.insert(section.clone(), pattern.clone());
                            }
                        }
                    }
                    break;
                }
            }
            Layout::Plain => {}
        }
        Self {
            root: root.to_owned(),
            layout,
            permalinks,
        }
    }

    /// Whether the file at `source_id` (relative to the root) is a post, a
    /// page, or not content at all (a theme's, a README).
    fn kind_of(&self, source_id: &str) -> Option<ItemKind> {
        let parts: Vec<&str> = source_id.split('/').collect();
        let top_level = parts.len() == 1;
        match self.layout {
            Layout::Jekyll => match parts[0] {
                "_posts" => Some(ItemKind::Post { draft: false }),
                "_drafts" => Some(ItemKind::Post { draft: true }),
                _ if top_level && !is_special(parts[0]) => Some(ItemKind::Page),
                _ => None,
            },
            Layout::Hugo => match parts.as_slice() {
                ["content", file] if !is_special(file) => Some(ItemKind::Page),
                ["content", _, .., last] if *last != "_index.md" => {
                    Some(ItemKind::Post { draft: false })
                }
                _ => None,
            },
            Layout::Plain if !is_special(parts[parts.len() - 1]) => {
                Some(ItemKind::Post { draft: false })
            }
            Layout::Plain => None,
        }
    }

    /// Where the item was on the old site, by its configuration.
    fn address(
        &self,
        source_id: &str,
        kind: ItemKind,
        item: &Item,
        fields: &Fields,
    ) -> Option<String> {
        if let Some(path) = fields
            .get("permalink")
            .or_else(|| fields.get("url"))
            .and_then(Value::text)
        {
            return Some(path);
        }
        let date = item.published_at.map(|at| at.as_datetime());
        match (self.layout, kind) {
            (Layout::Jekyll, ItemKind::Page) => Some(format!("/{}.html", stem(source_id))),
            (Layout::Jekyll, ItemKind::Post { .. }) => {
                let date = date?;
                let categories: Vec<String> = list(fields, "categories")
                    .into_iter()
                    .chain(list(fields, "category"))
                    .map(|c| c.to_lowercase())
                    .collect();
                let title = jekyll_title(source_id);
                Some(fill(
                    &self.permalinks[""],
                    &[
                        (":categories", categories.join("/")),
                        (":year", format!("{:04}", date.year())),
                        (":short_year", format!("{:02}", date.year() % 100)),
                        (":month", format!("{:02}", u8::from(date.month()))),
                        (":i_month", u8::from(date.month()).to_string()),
                        (":day", format!("{:02}", date.day())),
                        (":i_day", date.day().to_string()),
                        (":y_day", format!("{:03}", date.ordinal())),
                        (":title", title.clone()),
                        (":slug", item.slug.clone()),
                        (":output_ext", ".html".into()),
                    ],
                ))
            }
            (Layout::Hugo, ItemKind::Page) => Some(format!("/{}/", item.slug)),
            (Layout::Hugo, ItemKind::Post { .. }) => {
                let section = source_id.split('/').nth(1)?.to_owned();
                let pattern = self
                    .permalinks
                    .get(&section)
                    .cloned()
                    .unwrap_or_else(|| "/:section/:slug/".into());
                let (year, month, day) =
                    date.map_or((String::new(), String::new(), String::new()), |d| {
                        (
                            format!("{:04}", d.year()),
                            format!("{:02}", u8::from(d.month())),
                            format!("{:02}", d.day()),
                        )
                    });
                Some(fill(
                    &pattern,
                    &[
                        (":section", section),
                        (":year", year),
                        (":month", month),
                        (":day", day),
                        (":slug", item.slug.clone()),
                        (":filename", hugo_name(source_id)),
                        (":title", crate::features::posts::slug::slugify(&item.title)),
                    ],
                ))
            }
            (Layout::Plain, _) => None,
        }
    }
}

/// Files that are not content: a README, a home page's template.
fn is_special(name: &str) -> bool {
    let lower = name.to_lowercase();
    lower.starts_with("readme.")
        || lower.starts_with("index.")
        || lower.starts_with("_index.")
        || lower.starts_with("404.")
        || lower.starts_with("license")
        || lower.starts_with("changelog")
}

/// `pattern` with each placeholder replaced, longest names first (so
/// `:i_month` is not read as `:i` + `_month`), and no empty segment left.
fn fill(pattern: &str, values: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = values.iter().collect();
    sorted.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut path = pattern.to_owned();
    for (name, value) in sorted {
        path = path.replace(name, value);
    }
    while path.contains("//") {
        path = path.replace("//", "/");
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    path
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden folders, built sites and themes are not content.
            if name.starts_with('.')
                || ["_site", "public", "node_modules", "themes", "vendor"].contains(&name.as_str())
            {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                walk(&path, out);
            } else if kind.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("md" | "markdown")
                )
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file name without its folder and extension.
fn stem(source_id: &str) -> String {
    let name = source_id.rsplit('/').next().unwrap_or(source_id);
    name.rsplit_once('.')
        .map_or(name, |(stem, _)| stem)
        .to_owned()
}

/// A Jekyll post's name without its date: `2019-05-12-my-post.md` → `my-post`.
fn jekyll_title(source_id: &str) -> String {
    let stem = stem(source_id);
    match filename_date(&stem) {
        Some(_) => stem[11..].to_owned(),
        None => stem,
    }
}

/// A Hugo page's name: a bundle's is its folder's.
fn hugo_name(source_id: &str) -> String {
    let parts: Vec<&str> = source_id.split('/').collect();
    match parts.as_slice() {
        [.., folder, "index.md" | "index.markdown"] => (*folder).to_owned(),
        _ => stem(source_id),
    }
}

/// The date a Jekyll post's file name starts with.
fn filename_date(stem: &str) -> Option<Timestamp> {
    let date = stem.get(..10)?;
    if stem.as_bytes().get(10) != Some(&b'-') {
        return None;
    }
    parse_date(date)
}

/// A front matter value, as much as this reads of one.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    List(Vec<String>),
    Bool(bool),
}

impl Value {
    fn text(&self) -> Option<String> {
        match self {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

type Fields = BTreeMap<String, Value>;

/// A list field: a list, or one string of words separated by spaces or
/// commas (Jekyll's `tags: rust notes`).
fn list(fields: &Fields, name: &str) -> Vec<String> {
    match fields.get(name) {
        Some(Value::List(items)) => items.clone(),
        Some(Value::Text(text)) => text
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar_yaml(value: &yaml_rust2::Yaml) -> Option<String> {
    use yaml_rust2::Yaml;
    match value {
        Yaml::String(text) | Yaml::Real(text) => Some(text.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn yaml_fields(text: &str) -> anyhow::Result<Fields> {
    use yaml_rust2::Yaml;
    let docs = yaml_rust2::YamlLoader::load_from_str(text).context("the YAML front matter")?;
    let mut fields = Fields::new();
    let Some(Yaml::Hash(hash)) = docs.into_iter().next() else {
        return Ok(fields);
    };
    for (key, value) in hash {
        let Some(key) = scalar_yaml(&key) else {
            continue;
        };
        let value = match value {
            Yaml::Boolean(b) => Value::Bool(b),
            Yaml::Array(items) => Value::List(items.iter().filter_map(scalar_yaml).collect()),
            other => match scalar_yaml(&other) {
                Some(text) => Value::Text(text),
                None => continue,
            },
        };
        fields.insert(key.to_lowercase(), value);
    }
    Ok(fields)
}

fn toml_fields(text: &str) -> anyhow::Result<Fields> {
    let table: toml::Table = text.parse().context("the TOML front matter")?;
    let scalar = |value: &toml::Value| match value {
        toml::Value::String(text) => Some(text.clone()),
        toml::Value::Integer(n) => Some(n.to_string()),
        toml::Value::Float(n) => Some(n.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(at) => Some(at.to_string()),
        _ => None,
    };
    let mut fields = Fields::new();
    for (key, value) in &table {
        let value = match value {
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Array(items) => Value::List(items.iter().filter_map(scalar).collect()),
            other => match scalar(other) {
                Some(text) => Value::Text(text),
                None => continue,
            },
        };
        fields.insert(key.to_lowercase(), value);
    }
    Ok(fields)
}

/// The front matter and the text after it.
fn split_front_matter(text: &str) -> anyhow::Result<(Fields, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (fence, parse) in [
        ("---", yaml_fields as fn(&str) -> anyhow::Result<Fields>),
        ("+++", toml_fields),
    ] {
        let Some(rest) = text.strip_prefix(fence) else {
            continue;
        };
        let Some(rest) = rest
            .strip_prefix('\n')
            .or_else(|| rest.strip_prefix("\r\n"))
        else {
            continue;
        };
        // The closing fence is a line of its own.
        let mut at = 0;
        for line in rest.split_inclusive('\n') {
            if line.trim_end() == fence || (fence == "---" && line.trim_end() == "...") {
                let fields = parse(&rest[..at])?;
                return Ok((fields, &rest[at + line.len()..]));
            }
            at += line.len();
        }
        anyhow::bail!("the front matter opened with {fence} is never closed");
    }
    Ok((Fields::new(), text))
}

/// A date as blogs write them: RFC 3339, `2019-05-12 10:30:00 +0100`,
/// `2019-05-12 10:30`, or a day (midnight UTC).
pub(super) fn parse_date(text: &str) -> Option<Timestamp> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim().trim_matches('"');
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(Timestamp::from_datetime(at));
    }
    let (day, rest) = text.split_at_checked(10)?;
    let rest = rest.trim();
    let (clock, offset) = match rest.split_once(' ') {
        Some((clock, offset)) => (clock, offset.trim()),
        None => (rest, ""),
    };
    let clock = match clock.len() {
        0 => "00:00:00".to_owned(),
        5 => format!("{clock}:00"),
        _ => clock.to_owned(),
    };
    let offset = match offset {
        "" | "UTC" | "Z" => "Z".to_owned(),
        o if o.len() == 5 && !o.contains(':') => format!("{}:{}", &o[..3], &o[3..]),
        o => o.to_owned(),
    };
    time::OffsetDateTime::parse(&format!("{day}T{clock}{offset}"), &Rfc3339)
        .ok()
        .map(Timestamp::from_datetime)
}

fn read_file(site: &Site, file: &Path, source_id: &str, kind: ItemKind) -> anyhow::Result<Item> {
    let size = std::fs::metadata(file)?.len();
    if size > MAX_FILE_BYTES {
        anyhow::bail!("larger than {} MiB", MAX_FILE_BYTES >> 20);
    }
    let bytes = std::fs::read(file)?;
    let text = String::from_utf8(bytes).context("not UTF-8 text")?;
    let (fields, body) = split_front_matter(&text)?;
    let title = fields
        .get("title")
        .and_then(Value::text)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("no title in its front matter"))?;
    let stem_name = match site.layout {
        Layout::Jekyll => jekyll_title(source_id),
        Layout::Hugo => hugo_name(source_id),
        Layout::Plain => stem(source_id),
    };
    let slug = fields
        .get("slug")
        .and_then(Value::text)
        .unwrap_or(stem_name);
    let draft = match kind {
        ItemKind::Post { draft } => {
            draft
                || matches!(fields.get("draft"), Some(Value::Bool(true)))
                || matches!(fields.get("published"), Some(Value::Bool(false)))
        }
        ItemKind::Page => false,
    };
    let date = fields
        .get("date")
        .and_then(Value::text)
        .map(|text| {
            parse_date(&text).ok_or_else(|| anyhow::anyhow!("its date {text:?} is not a date"))
        })
        .transpose()?
        .or_else(|| filename_date(&stem(source_id)));
    let published_at = match kind {
        ItemKind::Post { .. } if draft => None,
        // A post with no date at all went live when it is imported.
        ItemKind::Post { .. } => Some(date.unwrap_or_else(Timestamp::now)),
        ItemKind::Page => None,
    };
    let mut tags = list(&fields, "tags");
    for category in list(&fields, "categories")
        .into_iter()
        .chain(list(&fields, "category"))
    {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(&category)) {
            tags.push(category);
        }
    }
    let description = ["description", "summary", "excerpt"]
        .iter()
        .find_map(|name| fields.get(*name).and_then(Value::text))
        .unwrap_or_default();
    let kind = match kind {
        ItemKind::Post { .. } => ItemKind::Post { draft },
        page => page,
    };
    let mut item = Item {
        source_id: source_id.to_owned(),
        kind,
        title,
        slug,
        description,
        body: match site.layout {
            // The site's base address means nothing here: its links and
            // images are the site's own.
            Layout::Jekyll => body
                .replace("{{ site.baseurl }}", "")
                .replace("{{site.baseurl}}", ""),
            _ => body.to_owned(),
        }
        .trim_start_matches(['\n', '\r'])
        .to_owned(),
        published_at,
        created_at: date,
        tags,
        old_paths: Vec::new(),
        images: Vec::new(),
        comments: Vec::new(),
        authors: fields
            .get("author")
            .and_then(Value::text)
            .into_iter()
            .chain(list(&fields, "authors"))
            .collect(),
    };
    item.old_paths = site
        .address(source_id, kind, &item, &fields)
        .into_iter()
        .chain(list(&fields, "aliases"))
        .chain(list(&fields, "redirect_from"))
        .map(|p| {
            if p.starts_with('/') {
                p
            } else {
                format!("/{p}")
            }
        })
        .collect();
    item.images = images_in(&site.root, file, &item.body);
    Ok(item)
}

/// The images `body` shows from files of the site: each as written, with
/// the file it names (inside the site's folder only), or `None` when
/// there is no such file.
fn images_in(root: &Path, file: &Path, body: &str) -> Vec<(String, Option<PathBuf>)> {
    super::images_of(body, |path| {
        // An image elsewhere on the web is left as it is.
        if path.contains("://") || path.starts_with("//") || path.starts_with("data:") {
            return None;
        }
        let path =
            percent_encoding::percent_decode_str(path.split(['?', '#']).next().unwrap_or(""))
                .decode_utf8_lossy()
                .into_owned();
        let candidates: Vec<PathBuf> = match path.strip_prefix('/') {
            Some(inside) => vec![root.join(inside), root.join("static").join(inside)],
            None => vec![file.parent().unwrap_or(root).join(&path)],
        };
        Some(
            candidates
                .into_iter()
                .find(|c| super::is_file_inside(c, root)),
        )
    })
}

/// The addresses of the images a Markdown text shows: `![alt](address
/// "title")`, `<img src="address">`, and Hugo's `{{< figure src="…" >}}`.
pub(super) fn image_references(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find("![") {
        rest = &rest[at + 2..];
        let Some(close) = rest.find("](") else { break };
        let after = &rest[close + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].trim();
        let address = target.split_whitespace().next().unwrap_or("");
        let address = address.trim_start_matches('<').trim_end_matches('>');
        if !address.is_empty() {
            out.push(address.to_owned());
        }
        rest = &after[end..];
    }
    for marker in ["src=\"", "src='"] {
        let quote = &marker[4..];
        let mut rest = body;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let Some(end) = rest.find(quote) else { break };
            if end > 0 {
                out.push(rest[..end].to_owned());
            }
            rest = &rest[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_blogs_write_them() {
        let at = |text| parse_date(text).map(Timestamp::rfc3339);
        assert_eq!(
            at("2021-03-04T05:06:07Z").as_deref(),
            Some("2021-03-04T05:06:07Z")
        );
        assert_eq!(
            at("2020-01-03 10:30:00 +0100").as_deref(),
            Some("2020-01-03T09:30:00Z")
        );
        assert_eq!(
            at("2020-01-03 10:30:00 +01:00").as_deref(),
            Some("2020-01-03T09:30:00Z")
        );
        assert_eq!(
            at("2020-01-03 10:30").as_deref(),
            Some("2020-01-03T10:30:00Z")
        );
        assert_eq!(at("2019-05-12").as_deref(), Some("2019-05-12T00:00:00Z"));
        assert_eq!(
            at("\"2019-05-12\"").as_deref(),
            Some("2019-05-12T00:00:00Z")
        );
        for nonsense in ["", "yesterday", "2019-13-45", "2019-05-12 25:00"] {
            assert_eq!(at(nonsense), None, "{nonsense}");
        }
    }

    #[test]
    fn front_matter_in_yaml_or_toml() {
        let (fields, body) = split_front_matter(
            "---\ntitle: \"Über: Füße\"\ntags: [a, b]\ndraft: true\n---\n\nText.\n",
        )
        .unwrap();
        assert_eq!(fields["title"].text().as_deref(), Some("Über: Füße"));
        assert_eq!(list(&fields, "tags"), ["a", "b"]);
        assert!(matches!(fields["draft"], Value::Bool(true)));
        assert_eq!(body, "\nText.\n");
        let (fields, body) =
            split_front_matter("+++\ntitle = \"Hi\"\ndate = 2021-03-04T05:06:07Z\n+++\nBody")
                .unwrap();
        assert_eq!(
            fields["date"].text().as_deref(),
            Some("2021-03-04T05:06:07Z")
        );
        assert_eq!(body, "Body");
        let (fields, body) = split_front_matter("No front matter.").unwrap();
        assert!(fields.is_empty());
        assert_eq!(body, "No front matter.");
        assert!(
            split_front_matter("---\ntitle: x\n").is_err(),
            "never closed"
        );
        assert!(split_front_matter("---\ntitle: [unclosed\n---\n").is_err());
        assert_eq!(
            list(
                &split_front_matter("---\ntags: rust notes\n---\n")
                    .unwrap()
                    .0,
                "tags"
            ),
            ["rust", "notes"]
        );
    }

    #[test]
    fn permalinks_are_filled_in() {
        assert_eq!(
            fill(
                "/:categories/:year/:month/:day/:title:output_ext",
                &[
                    (":categories", String::new()),
                    (":year", "2019".into()),
                    (":month", "05".into()),
                    (":day", "12".into()),
                    (":title", "first".into()),
                    (":output_ext", ".html".into()),
                ]
            ),
            "/2019/05/12/first.html"
        );
        assert_eq!(
            fill(
                ":i_month/:title/",
                &[(":i_month", "5".into()), (":title", "x".into())]
            ),
            "/5/x/"
        );
    }

    #[test]
    fn image_references_of_every_kind() {
        let body = "![A](/assets/a.png \"T\") and ![](b.jpg) <img src=\"c.gif\"> \
                    {{< figure src=\"d.png\" >}} ![web](https://e.example/e.png)";
        assert_eq!(
            image_references(body),
            [
                "/assets/a.png",
                "b.jpg",
                "https://e.example/e.png",
                "c.gif",
                "d.png"
            ]
        );
    }
}
