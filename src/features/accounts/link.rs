//! The secrets in links emailed to an address (a password reset, a
//! registration to confirm): 32 random bytes each. Only their SHA-256 is
//! stored, so a copy of the database opens no account.

use sha2::{Digest, Sha256};

/// A new link's secret, for the URL.
pub(super) fn new_token() -> String {
    crate::crypto::random_token(32)
}

/// What is stored of a link's secret, and looked up when it is followed.
pub(super) fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Emails `to` the link `PATH/TOKEN` on this site, in the email `template`,
/// which is given `username`, `link`, `hours` and `minutes` (how long the
/// link works) and `site`.
pub(super) async fn send(
    app: &crate::app::App,
    to: &str,
    template: &str,
    path: &str,
    token: &str,
    username: &str,
    lifetime: time::Duration,
) -> anyhow::Result<()> {
    use crate::mail;
    let link = app.settings.http.absolute(&format!("{path}/{token}"))?;
    let message = mail::Email::render(
        &app.templates,
        template,
        minijinja::context! {
            username,
            link => link.as_str(),
            hours => lifetime.whole_hours(),
            minutes => lifetime.whole_minutes(),
            site => mail::site(&app.settings),
        },
    )?;
    app.mailer.send(to, message).await
}
