//! Configuration. The command line and its `QUIRE_*` variables ([`Flags`],
//! in `flags`) are read once and checked once into [`Settings`], split by
//! concern, which is all the rest of the program sees: the secret key is
//! resolved there (and generated, for a local site), the SMTP URL parsed,
//! the job settings checked. Tests build `Settings` directly
//! ([`Settings::local`] and plain field assignments), not from arguments.

mod deploy;
mod flags;
mod schedule;
mod secret;
mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::db::PoolSize;
pub use deploy::{Finding, deploy_findings};
pub use flags::{
    FeedContent, Flags, JobConfig, LogFormat, OtlpProtocol, Registration, Switch, TraceConfig,
};
pub use schedule::Schedule;
pub use secret::{Origin as SecretOrigin, SecretKey};
pub use smtp::{SmtpSettings, SmtpTls, SmtpUrl};

/// A setting that is wrong, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{variable} {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// Every setting of a process, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub site: SiteSettings,
    pub http: HttpSettings,
    pub secret: SecretSettings,
    pub mail: MailSettings,
    /// Where the site keeps its files: `DATA_DIR/media` unless
    /// `QUIRE_STORAGE_URL` says otherwise.
    pub storage: crate::storage::Location,
    pub media: MediaSettings,
    pub jobs: JobConfig,
    pub federation: FederationSettings,
    pub newsletter: NewsletterSettings,
    pub telemetry: TelemetrySettings,
}

/// The newsletter's sending (src/features/newsletter).
#[derive(Debug, Clone)]
pub struct NewsletterSettings {
    /// Messages a second at most; 0: no limit (`QUIRE_NEWSLETTER_RATE`).
    pub rate: u32,
    /// Recipients per delivery job (`QUIRE_NEWSLETTER_BATCH`).
    pub batch: u32,
}

/// ActivityPub (src/features/federation).
#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// `QUIRE_FEDERATION`.
    pub enabled: bool,
    /// The blog actor's name (`QUIRE_FEDERATION_BLOG_NAME`).
    pub blog_name: String,
    /// Remote servers on loopback addresses may be reached: tests only.
    pub allow_loopback: bool,
}

/// Uploaded images.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// The largest upload accepted (`QUIRE_UPLOAD_MAX_BYTES`).
    pub upload_max_bytes: u64,
    /// What each member may keep uploaded (`QUIRE_UPLOAD_QUOTA_BYTES`).
    pub quota_bytes: u64,
    /// Where readers fetch images, when not from this site
    /// (`QUIRE_MEDIA_BASE_URL`): a CDN that fetches from `/media`.
    pub base_url: Option<Url>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    pub pool_size: PoolSize,
    /// Retry (up to 60 s) while the database is unreachable at start.
    pub wait: bool,
}

impl DatabaseSettings {
    /// The database for the flags' URL, or the local SQLite file.
    pub fn new(url: Option<String>, data_dir: &Path, pool_size: u32, wait: bool) -> Self {
        Self {
            url: url.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("quire.db").display())),
            pool_size: PoolSize(pool_size),
            wait,
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres:") || self.url.starts_with("postgresql:")
    }
}

#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub title: String,
    pub registration: Registration,
    /// What feeds carry of each post (`QUIRE_FEED_CONTENT`).
    pub feed_content: FeedContent,
    /// Templates and static files that replace the built-in ones.
    pub theme_dir: Option<PathBuf>,
    /// Local data: the SQLite database, the generated key, the outbox.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    /// As configured; see [`HttpSettings::public_url`].
    pub configured_public_url: Option<Url>,
    pub max_body_bytes: usize,
    pub cors_origins: Vec<axum::http::HeaderValue>,
    pub shutdown_drain: Duration,
    pub shutdown_timeout: Duration,
    pub metrics_bind: Option<SocketAddr>,
    /// How many `serve` replicas the deployment runs (`check --deploy`).
    pub replicas: u32,
    /// Proxies whose `X-Forwarded-For` names the client (`ClientIp`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The accounts' budgets per client address (`QUIRE_RATE_LIMITS`).
    pub rate_limits: Switch,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// How long a request body may pause between two parts.
    pub body_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Who may show the site in a frame: the CSP's `frame-ancestors`.
    pub frame_ancestors: String,
}

impl HttpSettings {
    /// The address readers use: as configured, or `http://BIND/`.
    pub fn public_url(&self) -> Url {
        self.configured_public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{}/", self.bind)).expect("a socket address makes a URL")
        })
    }

    /// The address of a path of the site (`/posts/x`), for what is read
    /// away from it: emails, feeds, sitemaps, links to share.
    pub fn absolute(&self, path: &str) -> Result<Url, url::ParseError> {
        self.public_url().join(path.trim_start_matches('/'))
    }

    /// `host` or `host:port` of the public URL: the site's part of a
    /// fediverse address (`@name@host`).
    pub fn public_authority(&self) -> String {
        let url = self.public_url();
        match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url().scheme() == "https"
    }
}

#[derive(Debug, Clone)]
pub struct SecretSettings {
    pub key: SecretKey,
    pub origin: SecretOrigin,
}

#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `None`: emails are written to DATA_DIR/outbox.
    pub smtp: Option<SmtpSettings>,
    pub from: Option<lettre::message::Mailbox>,
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub log_format: LogFormat,
    pub traces: TraceConfig,
    pub sentry_dsn: Option<sentry::types::Dsn>,
    /// Metrics are served, so pool waits are measured.
    pub pool_waits: bool,
    /// Query spans say `postgresql` rather than `sqlite`.
    pub postgres: bool,
}

impl Settings {
    /// A local site in `data_dir` on `database_url`, signing with `secret`,
    /// and every other setting at the flags' default: the start of a test's
    /// settings, which it then changes field by field.
    pub fn local(
        data_dir: &Path,
        database_url: &str,
        secret: &str,
    ) -> Result<Settings, ConfigError> {
        let database = DatabaseSettings::new(
            Some(database_url.to_owned()),
            data_dir,
            flags::defaults::POOL_SIZE,
            false,
        );
        let (key, origin) = secret::resolve(
            Some(secret.parse().expect("infallible")),
            database.is_postgres(),
            data_dir,
        )?;
        Ok(Settings {
            site: SiteSettings {
                title: flags::defaults::SITE_TITLE.to_owned(),
                registration: Registration::Open,
                feed_content: FeedContent::Full,
                theme_dir: None,
                data_dir: data_dir.to_owned(),
            },
            http: HttpSettings {
                bind: flags::defaults::BIND.parse().expect("a socket address"),
                configured_public_url: None,
                max_body_bytes: flags::defaults::MAX_BODY_BYTES,
                cors_origins: Vec::new(),
                shutdown_drain: flags::defaults::duration(flags::defaults::SHUTDOWN_DRAIN),
                shutdown_timeout: flags::defaults::duration(flags::defaults::SHUTDOWN_TIMEOUT),
                metrics_bind: None,
                replicas: 1,
                trusted_proxies: Vec::new(),
                rate_limits: Switch::On,
                header_timeout: flags::defaults::duration(flags::defaults::HEADER_TIMEOUT),
                body_timeout: flags::defaults::duration(flags::defaults::BODY_TIMEOUT),
                max_connections: flags::defaults::MAX_CONNECTIONS as usize,
                frame_ancestors: flags::defaults::FRAME_ANCESTORS.to_owned(),
            },
            secret: SecretSettings { key, origin },
            mail: MailSettings {
                smtp: None,
                from: None,
            },
            storage: crate::storage::Location::Folder(data_dir.join("media")),
            media: MediaSettings {
                upload_max_bytes: flags::defaults::UPLOAD_MAX_BYTES,
                quota_bytes: flags::defaults::UPLOAD_QUOTA_BYTES,
                base_url: None,
            },
            jobs: JobConfig::default(),
            federation: FederationSettings {
                enabled: true,
                blog_name: "blog".to_owned(),
                allow_loopback: false,
            },
            newsletter: NewsletterSettings {
                rate: 10,
                batch: 100,
            },
            telemetry: TelemetrySettings {
                log_format: LogFormat::Text,
                traces: TraceConfig::default(),
                sentry_dsn: None,
                pool_waits: false,
                postgres: database.is_postgres(),
            },
            database,
        })
    }
}
