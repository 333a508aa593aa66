//! The command line: every setting is a flag with a `QUIRE_*` environment
//! variable (12-factor); a `.env` file is read first if present. clap parses
//! each value; [`Flags::settings`] checks them together into [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

use super::{
    ConfigError, DatabaseSettings, FederationSettings, HttpSettings, MailSettings, MediaSettings,
    NewsletterSettings, Schedule, SecretKey, SecretSettings, Settings, SiteSettings, SmtpUrl,
    TelemetrySettings, secret,
};

/// The defaults of the flags, also those of [`Settings::local`].
pub mod defaults {
    pub const POOL_SIZE: u32 = 10;
    pub const BIND: &str = "127.0.0.1:8080";
    pub const DATA_DIR: &str = "./data";
    pub const SITE_TITLE: &str = "Quire";
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const UPLOAD_MAX_BYTES: u64 = 10 * 1024 * 1024;
    pub const UPLOAD_QUOTA_BYTES: u64 = 1024 * 1024 * 1024;
    pub const SHUTDOWN_DRAIN: &str = "5s";
    pub const SHUTDOWN_TIMEOUT: &str = "30s";
    pub const HEADER_TIMEOUT: &str = "30s";
    pub const BODY_TIMEOUT: &str = "30s";
    pub const MAX_CONNECTIONS: u32 = 1024;
    pub const FRAME_ANCESTORS: &str = "'none'";
    pub const WORKER_CONCURRENCY: u32 = 16;
    pub const JOB_LEASE: &str = "60s";
    pub const WORKER_SHUTDOWN_TIMEOUT: &str = "30s";
    pub const JOB_MAX_ATTEMPTS: u32 = 12;
    pub const JOB_RETRY_BASE: &str = "5s";
    pub const BACKUP_KEEP: u32 = 14;
    pub const HOUSEKEEPING_SCHEDULE: &str = "0 17 * * * *";

    /// A default duration, written as the flags take it.
    pub fn duration(text: &str) -> std::time::Duration {
        humantime::parse_duration(text).expect("the defaults parse")
    }
}

/// The settings every role shares.
#[derive(Args, Debug, Clone)]
pub struct Flags {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    /// Defaults to `sqlite://DATA_DIR/quire.db`.
    #[arg(long, env = "QUIRE_DATABASE_URL", global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Connections each process keeps to the database at most.
    #[arg(long, env = "QUIRE_DB_POOL_SIZE", global = true, default_value_t = defaults::POOL_SIZE,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,

    /// Keep retrying (with backoff, up to 60 s) while the database is unreachable at start.
    #[arg(long, env = "QUIRE_WAIT_FOR_DB", global = true)]
    pub wait_for_db: bool,

    /// Address the web server listens on.
    #[arg(
        long,
        env = "QUIRE_BIND",
        global = true,
        default_value = defaults::BIND
    )]
    pub bind: SocketAddr,

    /// Folder for local data: the SQLite database, the generated secret key.
    #[arg(long, env = "QUIRE_DATA_DIR", global = true, default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,

    /// The address readers use to reach the site (links, cookies' Secure flag).
    /// Defaults to http://BIND.
    #[arg(long, env = "QUIRE_PUBLIC_URL", global = true, value_parser = parse_public_url)]
    pub public_url: Option<Url>,

    /// Key that signs API tokens; at least 32 characters. Generated into
    /// DATA_DIR/secret_key on first local start when unset; required with PostgreSQL.
    #[arg(long, env = "QUIRE_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<SecretKey>,

    /// Who may create an account: anyone, holders of an invite code, or nobody.
    #[arg(long, env = "QUIRE_REGISTRATION", global = true, value_enum, default_value_t = Registration::Open)]
    pub registration: Registration,

    /// What feeds carry of each post: all of it, or its summary (the
    /// description, or the first words) with a link to the rest.
    #[arg(long, env = "QUIRE_FEED_CONTENT", global = true, value_enum, default_value_t = FeedContent::Full)]
    pub feed_content: FeedContent,

    /// The site's name, shown in the header and page titles.
    #[arg(long, env = "QUIRE_SITE_TITLE", global = true, default_value = defaults::SITE_TITLE)]
    pub site_title: String,

    /// Folder whose templates and static files replace the built-in ones of the same name.
    #[arg(long, env = "QUIRE_THEME_DIR", global = true)]
    pub theme_dir: Option<PathBuf>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "QUIRE_MAX_BODY_BYTES", global = true, default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Origins allowed to call the JSON API from a browser, comma-separated
    /// (e.g. `https://app.example.com`); none by default.
    #[arg(long, env = "QUIRE_CORS_ORIGINS", global = true, value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<axum::http::HeaderValue>,

    /// Log lines as human-readable text or as JSON objects (levels come from RUST_LOG).
    #[arg(long, env = "QUIRE_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Where email goes: `smtp://USER:PASS@HOST:587` (STARTTLS), `smtps://…:465`
    /// (TLS); add `?tls=none` only for a relay on a trusted network. Unset:
    /// emails are written to DATA_DIR/outbox as .eml files.
    #[arg(long, env = "QUIRE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<SmtpUrl>,

    /// The sender of emails, e.g. `Quire <blog@example.com>`. Defaults to
    /// the site title at noreply@ the public URL's host.
    #[arg(long, env = "QUIRE_MAIL_FROM", global = true, value_parser = parse_mailbox)]
    pub mail_from: Option<lettre::message::Mailbox>,

    /// On SIGTERM, how long to keep serving while /readyz answers 503, so
    /// load balancers stop sending requests before the process stops taking them.
    #[arg(long, env = "QUIRE_SHUTDOWN_DRAIN", global = true, default_value = defaults::SHUTDOWN_DRAIN,
          value_parser = humantime::parse_duration)]
    pub shutdown_drain: Duration,

    /// After the drain, how long requests in flight may take before the process exits anyway.
    #[arg(long, env = "QUIRE_SHUTDOWN_TIMEOUT", global = true, default_value = defaults::SHUTDOWN_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Address for Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9090`;
    /// off when unset. Keep it private: it is not meant for the public.
    #[arg(long, env = "QUIRE_METRICS_BIND", global = true)]
    pub metrics_bind: Option<SocketAddr>,

    /// How many `serve` replicas the deployment runs; only `check --deploy`
    /// reads it (SQLite cannot be shared by several).
    #[arg(long, env = "QUIRE_REPLICAS", global = true, default_value_t = 1)]
    pub replicas: u32,

    /// Largest image a member may upload, in bytes; larger ones get 413.
    #[arg(long, env = "QUIRE_UPLOAD_MAX_BYTES", global = true, default_value_t = defaults::UPLOAD_MAX_BYTES)]
    pub upload_max_bytes: u64,

    /// How many bytes of images each member may keep uploaded.
    #[arg(long, env = "QUIRE_UPLOAD_QUOTA_BYTES", global = true, default_value_t = defaults::UPLOAD_QUOTA_BYTES)]
    pub upload_quota_bytes: u64,

    /// Where readers fetch uploaded images: a CDN whose origin is this
    /// site's `/media`, such as https://cdn.example.com/media. Defaults to
    /// the site's own `/media`.
    #[arg(long, env = "QUIRE_MEDIA_BASE_URL", global = true, value_parser = parse_media_base_url)]
    pub media_base_url: Option<Url>,

    /// Where the site keeps its files: a folder, or `s3://BUCKET/PREFIX`
    /// (with the AWS_* variables). Defaults to DATA_DIR/media.
    #[arg(long, env = "QUIRE_STORAGE_URL", global = true, value_name = "URL")]
    pub storage_url: Option<crate::storage::Location>,

    /// How long a client may take to send a request's headers; also how
    /// long an idle keep-alive connection stays open. Keep a proxy's own
    /// keep-alive to Quire shorter (nginx: `keepalive_timeout` in the
    /// upstream).
    #[arg(long, env = "QUIRE_HEADER_TIMEOUT", global = true, default_value = defaults::HEADER_TIMEOUT,
          value_parser = parse_positive_duration)]
    pub header_timeout: Duration,

    /// How long a request body may pause between two of its parts before
    /// the request is refused.
    #[arg(long, env = "QUIRE_BODY_TIMEOUT", global = true, default_value = defaults::BODY_TIMEOUT,
          value_parser = parse_positive_duration)]
    pub body_timeout: Duration,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "QUIRE_MAX_CONNECTIONS", global = true, default_value_t = defaults::MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Who may show the site in a frame, as the Content-Security-Policy's
    /// `frame-ancestors` sources (`'self' https://example.com`); nobody by
    /// default.
    #[arg(long, env = "QUIRE_FRAME_ANCESTORS", global = true, default_value = defaults::FRAME_ANCESTORS,
          value_parser = parse_frame_ancestors)]
    pub frame_ancestors: String,

    /// Proxies in front of Quire (nginx, a load balancer) whose
    /// `X-Forwarded-For` tells the client's address, comma-separated
    /// addresses or networks (`127.0.0.1,10.0.0.0/8`); none by default, so
    /// the header is ignored.
    #[arg(long, env = "QUIRE_TRUSTED_PROXIES", global = true, value_delimiter = ',',
          value_parser = parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Budgets per client address for registrations, password reset
    /// requests and password checks (docs/operations.md). `off` only for
    /// test suites that make many accounts from one address; sign-in's
    /// backoff stays either way.
    #[arg(long, env = "QUIRE_RATE_LIMITS", global = true, value_enum, default_value_t = Switch::On)]
    pub rate_limits: Switch,

    #[command(flatten)]
    pub jobs: JobConfig,

    /// ActivityPub: authors and the blog can be followed from Mastodon and
    /// the rest of the fediverse (docs/federation.md). `off` answers none
    /// of it and sends nothing.
    #[arg(long, env = "QUIRE_FEDERATION", global = true, value_enum, default_value_t = Switch::On)]
    pub federation: Switch,

    /// The blog's own fediverse name: `@NAME@host` follows every post the
    /// home page shows.
    #[arg(long, env = "QUIRE_FEDERATION_BLOG_NAME", global = true, default_value = "blog",
          value_parser = parse_actor_name)]
    pub federation_blog_name: String,

    /// For tests only: fetch from and deliver to servers on loopback
    /// addresses (never private or link-local ones).
    #[arg(
        long,
        env = "QUIRE_FEDERATION_ALLOW_LOOPBACK",
        global = true,
        hide = true
    )]
    pub federation_allow_loopback: bool,

    /// Newsletter emails sent a second at most, across workers' sends of
    /// one post (your SMTP provider's limit); `0`: as fast as the SMTP
    /// server takes them.
    #[arg(long, env = "QUIRE_NEWSLETTER_RATE", global = true, default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub newsletter_rate: u32,

    /// Newsletter recipients per delivery job: each job sends this many
    /// (over one SMTP connection, reused) and queues the next.
    #[arg(long, env = "QUIRE_NEWSLETTER_BATCH", global = true, default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub newsletter_batch: u32,

    #[command(flatten)]
    pub traces: TraceConfig,

    /// Report errors (5xx answers, failed jobs, panics) to this Sentry
    /// project. SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by Sentry's
    /// client itself.
    #[arg(long, env = "SENTRY_DSN", global = true, hide_env_values = true,
          value_parser = parse_sentry_dsn)]
    pub sentry_dsn: Option<sentry::types::Dsn>,
}

fn parse_actor_name(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 30
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(s.to_owned())
    } else {
        Err("expected 1 to 30 lowercase letters, digits or underscores".into())
    }
}

fn parse_sentry_dsn(s: &str) -> Result<sentry::types::Dsn, String> {
    s.parse()
        .map_err(|e| format!("{e}: expected the project's DSN, https://KEY@HOST/PROJECT"))
}

/// OpenTelemetry traces, configured by OpenTelemetry's standard variables so
/// that a collector's usual setup works unchanged. The SDK reads the others
/// itself: OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, OTEL_TRACES_SAMPLER(_ARG),
/// OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*.
#[derive(Args, Debug, Clone)]
pub struct TraceConfig {
    /// Base URL of an OTLP/HTTP receiver (a collector, Tempo, Jaeger), e.g.
    /// `http://127.0.0.1:4318`; traces go to its /v1/traces. Off when unset.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true,
          value_parser = parse_http_url)]
    pub endpoint: Option<Url>,

    /// The full URL for traces, used as it is (overrides the base URL).
    #[arg(long = "otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", global = true,
          value_parser = parse_http_url)]
    pub traces_endpoint: Option<Url>,

    /// How spans are encoded: `http/protobuf` or `http/json`. gRPC is not
    /// built in: point Quire at the receiver's HTTP port (4318) instead.
    #[arg(long = "otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL", global = true,
          default_value = "http/protobuf", value_parser = OtlpProtocol::parse)]
    pub protocol: OtlpProtocol,

    /// The `service.name` of every span; otherwise the one in
    /// OTEL_RESOURCE_ATTRIBUTES, otherwise `quire`.
    #[arg(long = "otel-service-name", env = "OTEL_SERVICE_NAME", global = true)]
    pub service_name: Option<String>,

    /// Turns tracing off even when an endpoint is set.
    #[arg(long = "otel-sdk-disabled", env = "OTEL_SDK_DISABLED", global = true,
          value_parser = clap::builder::BoolishValueParser::new(), num_args = 0..=1,
          default_value = "false", default_missing_value = "true")]
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    HttpProtobuf,
    HttpJson,
}

impl OtlpProtocol {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Ok(Self::HttpJson),
            "grpc" => Err(
                "gRPC is not built in: use http/protobuf, on the receiver's HTTP port (4318)"
                    .into(),
            ),
            _ => Err("expected http/protobuf or http/json".into()),
        }
    }
}

impl TraceConfig {
    /// Where spans are sent, when tracing is on.
    pub fn traces_url(&self) -> Option<Url> {
        if self.disabled {
            return None;
        }
        if let Some(url) = &self.traces_endpoint {
            return Some(url.clone());
        }
        let mut url = self.endpoint.clone()?;
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
        Some(url)
    }
}

fn parse_http_url(s: &str) -> Result<Url, String> {
    let url =
        Url::parse(s).map_err(|e| format!("{e}: expected a URL such as http://127.0.0.1:4318"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "{other}:// is not spoken here; use http:// or https://"
        )),
    }
}

/// Background jobs and the worker that runs them.
#[derive(Args, Debug, Clone)]
pub struct JobConfig {
    /// Whether `serve` runs jobs itself; `off` where separate `quire worker`
    /// processes do (`serve --no-worker` does the same).
    #[arg(long = "worker", env = "QUIRE_WORKER", global = true, value_enum, default_value_t = Switch::On)]
    pub in_process: Switch,

    /// Jobs one process runs at the same time.
    #[arg(long, env = "QUIRE_WORKER_CONCURRENCY", global = true, default_value_t = defaults::WORKER_CONCURRENCY,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub worker_concurrency: u32,

    /// How long a claimed job stays reserved without news from its worker
    /// (which renews it while the job runs); after that another worker takes it.
    #[arg(long, env = "QUIRE_JOB_LEASE", global = true, default_value = defaults::JOB_LEASE, value_parser = parse_lease)]
    pub job_lease: Duration,

    /// On SIGTERM, how long running jobs may take to finish before they are
    /// handed back to the queue.
    #[arg(long, env = "QUIRE_WORKER_SHUTDOWN_TIMEOUT", global = true, default_value = defaults::WORKER_SHUTDOWN_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub worker_shutdown_timeout: Duration,

    /// Attempts before a failing job is kept as failed.
    #[arg(long, env = "QUIRE_JOB_MAX_ATTEMPTS", global = true, default_value_t = defaults::JOB_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub job_max_attempts: u32,

    /// The wait before the first retry; it doubles with each attempt (up to an hour).
    #[arg(long, env = "QUIRE_JOB_RETRY_BASE", global = true, default_value = defaults::JOB_RETRY_BASE,
          value_parser = humantime::parse_duration)]
    pub job_retry_base: Duration,

    /// When to back up (cron, with optional seconds, UTC), e.g. `0 30 3 * * *`;
    /// no periodic backups when unset. Needs QUIRE_BACKUP_DEST.
    #[arg(long, env = "QUIRE_BACKUP_SCHEDULE", global = true, value_parser = Schedule::parse)]
    pub backup_schedule: Option<Schedule>,

    /// Where periodic backups go: a folder, or `s3://BUCKET/PREFIX` (with
    /// the AWS_* variables); one `quire-TIMESTAMP` folder or prefix each.
    #[arg(long, env = "QUIRE_BACKUP_DEST", global = true)]
    pub backup_dest: Option<crate::storage::Location>,

    /// How many periodic backups to keep; older ones are deleted.
    #[arg(long, env = "QUIRE_BACKUP_KEEP", global = true, default_value_t = defaults::BACKUP_KEEP,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,

    /// When housekeeping runs (cron, with optional seconds): expired
    /// sessions, reset links and invites, old finished jobs.
    #[arg(long, env = "QUIRE_HOUSEKEEPING_SCHEDULE", global = true, default_value = defaults::HOUSEKEEPING_SCHEDULE,
          value_parser = Schedule::parse)]
    pub housekeeping_schedule: Schedule,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Switch {
    On,
    Off,
}

impl JobConfig {
    /// Periodic backups need a place to go.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.backup_schedule.is_some() && self.backup_dest.is_none() {
            return Err(ConfigError {
                variable: "QUIRE_BACKUP_DEST",
                message: "is required when QUIRE_BACKUP_SCHEDULE is set".into(),
            });
        }
        Ok(())
    }
}

/// CSP sources: printable ASCII without `;` or `,`, which would end the
/// directive or the header.
fn parse_frame_ancestors(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b';' && b != b',')
    {
        return Err("expected sources like 'self' https://example.com, or 'none'".into());
    }
    Ok(s.to_owned())
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than 0s".into());
    }
    Ok(duration)
}

fn parse_lease(s: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if lease < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(lease)
}

/// An address (`10.0.0.5`, a network of one) or a network (`10.0.0.0/8`).
fn parse_network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an address or a network like 10.0.0.0/8"))
}

fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse()
        .map_err(|e| format!("is not an address like `Blog <blog@example.com>`: {e}"))
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Invite,
    Closed,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedContent {
    Full,
    Summary,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_public_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(url)
}

fn parse_media_base_url(s: &str) -> Result<Url, String> {
    let url = parse_public_url(s)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must be a base address without ?query or #fragment".into());
    }
    Ok(url)
}

fn parse_origin(s: &str) -> Result<axum::http::HeaderValue, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.path() != "/" {
        return Err(format!(
            "{s:?} is not an origin like https://app.example.com"
        ));
    }
    let origin = url.origin().ascii_serialization();
    axum::http::HeaderValue::from_str(&origin).map_err(|e| e.to_string())
}

impl Flags {
    /// The database settings alone, for the commands that need nothing
    /// else (`migrate`, `backup`, `maintenance`…): they must work without
    /// the secret key, which a deploy's migration step may not have.
    pub fn database(&self) -> DatabaseSettings {
        DatabaseSettings::new(
            self.database_url.clone(),
            &self.data_dir,
            self.db_pool_size,
            self.wait_for_db,
        )
    }

    /// Logging, traces and error reporting, which start before anything.
    pub fn telemetry(&self) -> TelemetrySettings {
        TelemetrySettings {
            log_format: self.log_format,
            traces: self.traces.clone(),
            sentry_dsn: self.sentry_dsn.clone(),
            pool_waits: self.metrics_bind.is_some(),
            postgres: self.database().is_postgres(),
        }
    }

    /// Where the site keeps its files: `QUIRE_STORAGE_URL`, or
    /// DATA_DIR/media.
    pub fn storage(&self) -> crate::storage::Location {
        self.storage_url
            .clone()
            .unwrap_or_else(|| crate::storage::Location::Folder(self.data_dir.join("media")))
    }

    /// Every setting, checked: the secret key resolved (and, for a local
    /// site, generated once), the SMTP URL parsed, the jobs' settings
    /// consistent. The error names the variable to fix.
    pub fn settings(self) -> Result<Settings, ConfigError> {
        let database = self.database();
        let telemetry = self.telemetry();
        let storage = self.storage();
        let (key, origin) =
            secret::resolve(self.secret_key, database.is_postgres(), &self.data_dir)?;
        let smtp = self.smtp_url.as_ref().map(SmtpUrl::settings).transpose()?;
        self.jobs.check()?;

        Ok(Settings {
            database,
            site: SiteSettings {
                title: self.site_title,
                registration: self.registration,
                feed_content: self.feed_content,
                theme_dir: self.theme_dir,
                data_dir: self.data_dir,
            },
            http: HttpSettings {
                bind: self.bind,
                configured_public_url: self.public_url,
                max_body_bytes: self.max_body_bytes,
                cors_origins: self.cors_origins,
                shutdown_drain: self.shutdown_drain,
                shutdown_timeout: self.shutdown_timeout,
                metrics_bind: self.metrics_bind,
                replicas: self.replicas,
                trusted_proxies: self.trusted_proxies,
                rate_limits: self.rate_limits,
                header_timeout: self.header_timeout,
                body_timeout: self.body_timeout,
                max_connections: self.max_connections as usize,
                frame_ancestors: self.frame_ancestors,
            },
            secret: SecretSettings { key, origin },
            mail: MailSettings {
                smtp,
                from: self.mail_from,
            },
            storage,
            media: MediaSettings {
                upload_max_bytes: self.upload_max_bytes,
                quota_bytes: self.upload_quota_bytes,
                base_url: self.media_base_url,
            },
            jobs: self.jobs,
            federation: FederationSettings {
                enabled: self.federation == Switch::On,
                blog_name: self.federation_blog_name,
                allow_loopback: self.federation_allow_loopback,
            },
            newsletter: NewsletterSettings {
                rate: self.newsletter_rate,
                batch: self.newsletter_batch,
            },
            telemetry,
        })
    }
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            in_process: Switch::On,
            worker_concurrency: defaults::WORKER_CONCURRENCY,
            job_lease: defaults::duration(defaults::JOB_LEASE),
            worker_shutdown_timeout: defaults::duration(defaults::WORKER_SHUTDOWN_TIMEOUT),
            job_max_attempts: defaults::JOB_MAX_ATTEMPTS,
            job_retry_base: defaults::duration(defaults::JOB_RETRY_BASE),
            backup_schedule: None,
            backup_dest: None,
            backup_keep: defaults::BACKUP_KEEP,
            housekeeping_schedule: Schedule::parse(defaults::HOUSEKEEPING_SCHEDULE)
                .expect("the default schedule parses"),
        }
    }
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            traces_endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            service_name: None,
            disabled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Flags {
        #[derive(clap::Parser)]
        struct Test {
            #[command(flatten)]
            flags: Flags,
        }
        let mut argv = vec!["quire"];
        argv.extend_from_slice(args);
        <Test as clap::Parser>::parse_from(argv).flags
    }

    #[test]
    fn traces_go_to_the_standard_path_unless_given_in_full() {
        let url = |args: &[&str]| parse(args).traces.traces_url().map(|u| u.to_string());
        assert_eq!(url(&[]), None);
        assert_eq!(
            url(&["--otlp-endpoint", "http://127.0.0.1:4318"]).as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            url(&["--otlp-endpoint", "https://otel.example/base/"]).as_deref(),
            Some("https://otel.example/base/v1/traces")
        );
        assert_eq!(
            url(&[
                "--otlp-endpoint",
                "http://a:4318",
                "--otlp-traces-endpoint",
                "http://b/t"
            ])
            .as_deref(),
            Some("http://b/t")
        );
        assert_eq!(
            url(&["--otlp-endpoint", "http://a:4318", "--otel-sdk-disabled"]),
            None
        );
        let disabled = |value: &str| {
            url(&[
                "--otlp-endpoint",
                "http://a:4318",
                "--otel-sdk-disabled",
                value,
            ])
            .is_none()
        };
        assert!(disabled("TRUE") && disabled("1") && !disabled("false"));
    }

    #[test]
    fn a_media_base_url_is_an_absolute_web_address() {
        assert!(parse_media_base_url("https://cdn.example.com/media").is_ok());
        for bad in [
            "/media",
            "ftp://cdn.example.com/",
            "https://cdn.example.com/?v=1",
        ] {
            assert!(parse_media_base_url(bad).is_err(), "{bad}");
        }
    }
}
