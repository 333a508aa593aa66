//! Email: rendered from templates (plain text and HTML, overridable by a
//! theme like the pages), sent over SMTP with lettre, or — the local
//! default, without `QUIRE_SMTP_URL` — written as `.eml` files to
//! DATA_DIR/outbox, where a developer can open them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Value;

use crate::config::{ConfigError, Settings, SmtpTls};
use crate::templates::Templates;

/// Sends email the configured way.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

enum Transport {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

/// A rendered email.
#[derive(Debug, Clone)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Where a mail client's unsubscribe button goes (RFC 2369 and 8058).
    pub unsubscribe: Option<String>,
}

impl Email {
    /// Renders `emails/NAME.txt` and `emails/NAME.html`. The text template
    /// starts with a `Subject: …` line, so a theme changes the subject with
    /// the rest of the wording.
    pub fn render(templates: &Templates, name: &str, context: Value) -> anyhow::Result<Self> {
        let text = templates
            .render(&format!("emails/{name}.txt"), context.clone())
            .with_context(|| format!("rendering emails/{name}.txt"))?;
        let html = templates
            .render(&format!("emails/{name}.html"), context)
            .with_context(|| format!("rendering emails/{name}.html"))?;
        let text = text.trim_start();
        let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .with_context(|| format!("emails/{name}.txt must start with a `Subject: …` line"))?
            .trim()
            .to_owned();
        Ok(Self {
            subject,
            text: rest.trim_start_matches('\n').to_owned(),
            html,
            unsubscribe: None,
        })
    }
}

impl Mailer {
    pub fn new(settings: &Settings) -> Result<Self, ConfigError> {
        let from = match &settings.mail.from {
            Some(from) => from.clone(),
            None => default_sender(settings)?,
        };
        let transport = match settings.mail.smtp.clone() {
            Some(smtp) => {
                let error = |e: lettre::transport::smtp::Error| ConfigError {
                    variable: "QUIRE_SMTP_URL",
                    message: format!("cannot be used: {e}"),
                };
                let mut builder = match smtp.tls {
                    SmtpTls::Implicit => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(error)?
                    }
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(error)?
                    }
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                }
                .port(smtp.port)
                .timeout(Some(Duration::from_secs(20)));
                if let Some((user, password)) = smtp.credentials {
                    builder = builder.credentials(Credentials::new(user, password));
                }
                Transport::Smtp(Box::new(builder.build()))
            }
            None => {
                let dir = settings.site.data_dir.join("outbox");
                std::fs::create_dir_all(&dir).map_err(|e| ConfigError {
                    variable: "QUIRE_DATA_DIR",
                    message: format!("cannot hold the email outbox {}: {e}", dir.display()),
                })?;
                Transport::Outbox(AsyncFileTransport::new(&dir), dir)
            }
        };
        Ok(Self { transport, from })
    }

    /// Sends `email` to `to`. An error means it was not sent (the job that
    /// called will try again later).
    pub async fn send(&self, to: &str, email: Email) -> anyhow::Result<()> {
        self.deliver(to, email).await.map_err(anyhow::Error::new)
    }

    /// Sends `email` to `to`, telling a refusal for good (a 5xx answer, an
    /// address that cannot be one) from one worth trying again.
    pub async fn deliver(&self, to: &str, email: Email) -> Result<(), SendError> {
        let recipient: Mailbox = to
            .parse()
            .map_err(|_| SendError::Permanent("the recipient's address is not valid".to_owned()))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(email.subject.clone());
        if let Some(url) = &email.unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| SendError::Permanent(format!("the email cannot be built: {e}")))?;
        // The recipient is personal data: logs get the domain only.
        let domain = to.rsplit_once('@').map_or("?", |(_, d)| d);
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map_err(|e| {
                    let text = format!("sending over SMTP: {e}");
                    if e.is_permanent() {
                        SendError::Permanent(text)
                    } else {
                        SendError::Temporary(text)
                    }
                })?;
                tracing::info!(to_domain = domain, subject = %email.subject, "email sent");
            }
            Transport::Outbox(outbox, dir) => {
                let id = outbox
                    .send(message)
                    .await
                    .map_err(|e| SendError::Temporary(format!("writing to the outbox: {e}")))?;
                tracing::info!(
                    to_domain = domain,
                    subject = %email.subject,
                    file = %dir.join(format!("{id}.eml")).display(),
                    "email written to the outbox (QUIRE_SMTP_URL is not set)"
                );
            }
        }
        Ok(())
    }
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Refused for good: a 5xx answer, or an address that is not one.
    #[error("{0}")]
    Permanent(String),
    /// The server was not reached, or answered 4xx: try again later.
    #[error("{0}")]
    Temporary(String),
}

/// "Site Title <noreply@host>", from the public URL.
fn default_sender(settings: &Settings) -> Result<Mailbox, ConfigError> {
    let url = settings.http.public_url();
    let host = match url.host() {
        Some(url::Host::Domain(domain)) if domain.contains('.') => domain.to_owned(),
        // An address or a bare name (127.0.0.1, localhost): a local setup.
        _ => "localhost".to_owned(),
    };
    let address = format!("noreply@{host}").parse().map_err(|e| ConfigError {
        variable: "QUIRE_MAIL_FROM",
        message: format!("is unset and noreply@{host} is not a usable address ({e}); set it"),
    })?;
    Ok(Mailbox::new(Some(settings.site.title.clone()), address))
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Lets mail clients unsubscribe with one POST, without opening a page.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// What every email template knows about the site.
/// How much of a comment or reply an email quotes.
const EXCERPT_CHARS: usize = 400;

/// The start of a text an email quotes, with `…` when there is more.
pub fn excerpt(text: &str) -> String {
    let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        excerpt.push('…');
    }
    excerpt
}

pub fn site(settings: &Settings) -> Value {
    minijinja::context! {
        title => settings.site.title.clone(),
        url => settings.http.public_url().as_str(),
    }
}
