//! Page templates: minijinja, auto-escaping HTML. The built-in templates are
//! compiled into the binary; a theme folder (`QUIRE_THEME_DIR`) can replace
//! any of them by name, so owners restyle the site without recompiling.

use std::path::PathBuf;

use minijinja::{Environment, Error, ErrorKind, Value};

/// Every built-in template, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("post.html", include_str!("../templates/post.html")),
    ("editor.html", include_str!("../templates/editor.html")),
    (
        "confirm_delete.html",
        include_str!("../templates/confirm_delete.html"),
    ),
    (
        "comment_edit.html",
        include_str!("../templates/comment_edit.html"),
    ),
    ("author.html", include_str!("../templates/author.html")),
    ("tag.html", include_str!("../templates/tag.html")),
    ("search.html", include_str!("../templates/search.html")),
    ("drafts.html", include_str!("../templates/drafts.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    (
        "delete_account.html",
        include_str!("../templates/delete_account.html"),
    ),
    ("invites.html", include_str!("../templates/invites.html")),
    ("stats.html", include_str!("../templates/stats.html")),
    ("media.html", include_str!("../templates/media.html")),
    (
        "forgot_password.html",
        include_str!("../templates/forgot_password.html"),
    ),
    (
        "reset_password.html",
        include_str!("../templates/reset_password.html"),
    ),
    (
        "register_confirm.html",
        include_str!("../templates/register_confirm.html"),
    ),
    (
        "address_confirm.html",
        include_str!("../templates/address_confirm.html"),
    ),
    (
        "unsubscribe.html",
        include_str!("../templates/unsubscribe.html"),
    ),
    (
        "admin_jobs.html",
        include_str!("../templates/admin_jobs.html"),
    ),
    (
        "admin_import.html",
        include_str!("../templates/admin_import.html"),
    ),
    (
        "moderation.html",
        include_str!("../templates/moderation.html"),
    ),
    (
        "admin_import_run.html",
        include_str!("../templates/admin_import_run.html"),
    ),
    (
        "newsletter.html",
        include_str!("../templates/newsletter.html"),
    ),
    (
        "newsletter_done.html",
        include_str!("../templates/newsletter_done.html"),
    ),
    (
        "newsletter_confirm.html",
        include_str!("../templates/newsletter_confirm.html"),
    ),
    (
        "newsletter_manage.html",
        include_str!("../templates/newsletter_manage.html"),
    ),
    (
        "newsletter_unsubscribe.html",
        include_str!("../templates/newsletter_unsubscribe.html"),
    ),
    (
        "admin_newsletter.html",
        include_str!("../templates/admin_newsletter.html"),
    ),
    ("page.html", include_str!("../templates/page.html")),
    (
        "admin_pages.html",
        include_str!("../templates/admin_pages.html"),
    ),
    (
        "page_editor.html",
        include_str!("../templates/page_editor.html"),
    ),
    (
        "page_delete.html",
        include_str!("../templates/page_delete.html"),
    ),
    (
        "maintenance.html",
        include_str!("../templates/maintenance.html"),
    ),
    (
        "emails/layout.html",
        include_str!("../templates/emails/layout.html"),
    ),
    (
        "emails/welcome.txt",
        include_str!("../templates/emails/welcome.txt"),
    ),
    (
        "emails/welcome.html",
        include_str!("../templates/emails/welcome.html"),
    ),
    (
        "emails/reply.txt",
        include_str!("../templates/emails/reply.txt"),
    ),
    (
        "emails/reply.html",
        include_str!("../templates/emails/reply.html"),
    ),
    (
        "emails/fediverse_reply.txt",
        include_str!("../templates/emails/fediverse_reply.txt"),
    ),
    (
        "emails/fediverse_reply.html",
        include_str!("../templates/emails/fediverse_reply.html"),
    ),
    (
        "emails/password_reset.txt",
        include_str!("../templates/emails/password_reset.txt"),
    ),
    (
        "emails/password_reset.html",
        include_str!("../templates/emails/password_reset.html"),
    ),
    (
        "emails/registration_confirm.txt",
        include_str!("../templates/emails/registration_confirm.txt"),
    ),
    (
        "emails/registration_confirm.html",
        include_str!("../templates/emails/registration_confirm.html"),
    ),
    (
        "emails/address_in_use.txt",
        include_str!("../templates/emails/address_in_use.txt"),
    ),
    (
        "emails/address_in_use.html",
        include_str!("../templates/emails/address_in_use.html"),
    ),
    (
        "emails/address_change.txt",
        include_str!("../templates/emails/address_change.txt"),
    ),
    (
        "emails/address_change.html",
        include_str!("../templates/emails/address_change.html"),
    ),
    (
        "emails/newsletter_confirm.txt",
        include_str!("../templates/emails/newsletter_confirm.txt"),
    ),
    (
        "emails/newsletter_confirm.html",
        include_str!("../templates/emails/newsletter_confirm.html"),
    ),
    (
        "emails/newsletter_post.txt",
        include_str!("../templates/emails/newsletter_post.txt"),
    ),
    (
        "emails/newsletter_post.html",
        include_str!("../templates/emails/newsletter_post.html"),
    ),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new(theme_dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        env.set_loader(move |name| {
            if let Some(dir) = &theme_dir {
                // Names come from our own code, but refuse to leave the folder anyway.
                if !name.contains("..") {
                    match std::fs::read_to_string(dir.join(name)) {
                        Ok(source) => return Ok(Some(source)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(Error::new(
                                ErrorKind::TemplateNotFound,
                                format!("theme template {name}: {e}"),
                            ));
                        }
                    }
                }
            }
            Ok(BUILT_IN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, source)| (*source).to_owned()))
        });
        env.add_filter("date", format_date);
        env.add_filter("segment", path_segment);
        // The names a time zone field offers (settings).
        env.add_function("time_zones", || {
            // Built once: every settings page offers the same six hundred.
            static NAMES: std::sync::LazyLock<Value> =
                std::sync::LazyLock::new(|| Value::from(crate::zone::Zone::names().to_vec()));
            NAMES.clone()
        });
        Self { env }
    }

    pub fn render(&self, name: &str, context: Value) -> Result<String, Error> {
        self.env.get_template(name)?.render(context)
    }
}

/// `/tags/{{ tag | segment }}`: the text as one path segment, with every
/// character but the unreserved ones percent-encoded ('/' too, which
/// `urlencode` keeps, and which would split the segment).
pub fn path_segment(value: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

/// `{{ post.published_at | date }}` → "22 Nov 2026".
fn format_date(value: Value) -> Result<String, Error> {
    let text = value.as_str().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            "date expects an RFC 3339 string",
        )
    })?;
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("bad date {text:?}: {e}"),
            )
        })?;
    let format = time::macros::format_description!("[day padding:none] [month repr:short] [year]");
    at.format(format)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}
