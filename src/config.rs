//! All configuration, in one place. Every setting is a command-line flag with
//! a `QUIRE_*` environment variable (12-factor); a `.env` file is read first
//! if present. Values are parsed and checked here, once, so the rest of the
//! program holds typed, valid settings.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use url::Url;

use crate::db::PoolSize;

/// The settings every role shares.
#[derive(Args, Debug, Clone)]
pub struct Config {
    /// Database URL: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    /// Defaults to `sqlite://DATA_DIR/quire.db`.
    #[arg(long, env = "QUIRE_DATABASE_URL", global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Connections each process keeps to the database at most.
    #[arg(long, env = "QUIRE_DB_POOL_SIZE", global = true, default_value_t = 10,
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
        default_value = "127.0.0.1:8080"
    )]
    pub bind: SocketAddr,

    /// Folder for local data: the SQLite database, the generated secret key.
    #[arg(long, env = "QUIRE_DATA_DIR", global = true, default_value = "./data")]
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

    /// The site's name, shown in the header and page titles.
    #[arg(long, env = "QUIRE_SITE_TITLE", global = true, default_value = "Quire")]
    pub site_title: String,

    /// Folder whose templates and static files replace the built-in ones of the same name.
    #[arg(long, env = "QUIRE_THEME_DIR", global = true)]
    pub theme_dir: Option<PathBuf>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "QUIRE_MAX_BODY_BYTES", global = true, default_value_t = 1024 * 1024)]
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
    #[arg(long, env = "QUIRE_SHUTDOWN_DRAIN", global = true, default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub shutdown_drain: Duration,

    /// After the drain, how long requests in flight may take before the process exits anyway.
    #[arg(long, env = "QUIRE_SHUTDOWN_TIMEOUT", global = true, default_value = "30s",
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

    #[command(flatten)]
    pub jobs: JobConfig,

    #[command(flatten)]
    pub traces: TraceConfig,

    /// Report errors (5xx answers, failed jobs, panics) to this Sentry
    /// project. SENTRY_ENVIRONMENT and SENTRY_RELEASE are read by Sentry's
    /// client itself.
    #[arg(long, env = "SENTRY_DSN", global = true, hide_env_values = true,
          value_parser = parse_sentry_dsn)]
    pub sentry_dsn: Option<sentry::types::Dsn>,
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
    #[arg(long, env = "QUIRE_WORKER_CONCURRENCY", global = true, default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub worker_concurrency: u32,

    /// How long a claimed job stays reserved without news from its worker
    /// (which renews it while the job runs); after that another worker takes it.
    #[arg(long, env = "QUIRE_JOB_LEASE", global = true, default_value = "60s", value_parser = parse_lease)]
    pub job_lease: Duration,

    /// On SIGTERM, how long running jobs may take to finish before they are
    /// handed back to the queue.
    #[arg(long, env = "QUIRE_WORKER_SHUTDOWN_TIMEOUT", global = true, default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub worker_shutdown_timeout: Duration,

    /// Attempts before a failing job is kept as failed.
    #[arg(long, env = "QUIRE_JOB_MAX_ATTEMPTS", global = true, default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub job_max_attempts: u32,

    /// The wait before the first retry; it doubles with each attempt (up to an hour).
    #[arg(long, env = "QUIRE_JOB_RETRY_BASE", global = true, default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub job_retry_base: Duration,

    /// When to back up (cron, with optional seconds, UTC), e.g. `0 30 3 * * *`;
    /// no periodic backups when unset. Needs QUIRE_BACKUP_DEST.
    #[arg(long, env = "QUIRE_BACKUP_SCHEDULE", global = true, value_parser = Schedule::parse)]
    pub backup_schedule: Option<Schedule>,

    /// Where periodic backups go: a folder, or `s3://BUCKET/PREFIX` (with
    /// the AWS_* variables); one `quire-TIMESTAMP` folder or prefix each.
    #[arg(long, env = "QUIRE_BACKUP_DEST", global = true)]
    pub backup_dest: Option<crate::backup::Location>,

    /// How many periodic backups to keep; older ones are deleted.
    #[arg(long, env = "QUIRE_BACKUP_KEEP", global = true, default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,

    /// When housekeeping runs (cron, with optional seconds): expired
    /// sessions, reset links and invites, old finished jobs.
    #[arg(long, env = "QUIRE_HOUSEKEEPING_SCHEDULE", global = true, default_value = "0 17 * * * *",
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

fn parse_lease(s: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if lease < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(lease)
}

fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse()
        .map_err(|e| format!("is not an address like `Blog <blog@example.com>`: {e}"))
}

/// A cron schedule, in UTC.
#[derive(Clone, Debug)]
pub struct Schedule(croner::Cron);

impl Schedule {
    pub fn parse(s: &str) -> Result<Self, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(s)
            .map(Self)
            .map_err(|e| format!("is not a cron schedule such as `0 17 * * * *`: {e}"))
    }

    /// The first time strictly after `after` that the schedule fires.
    pub fn next_after(&self, after: crate::db::Timestamp) -> crate::db::Timestamp {
        // Whole seconds: every process must compute the very same instants.
        let at = chrono::DateTime::from_timestamp(after.unix_timestamp(), 0).unwrap_or_default();
        let next = self
            .0
            .find_next_occurrence(&at, false)
            .map(|n| n.timestamp())
            .unwrap_or(i64::MAX / 4);
        crate::db::Timestamp::from_datetime(
            time::OffsetDateTime::from_unix_timestamp(next)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    }
}

/// `QUIRE_SMTP_URL` as given. It holds a password, so like [`SecretKey`] it
/// is parsed after clap (which quotes the values it refuses), by
/// [`SmtpUrl::settings`], whose errors never repeat it.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl([redacted])")
    }
}

impl FromStr for SmtpUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://`: plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// `smtp://…?tls=none`: no encryption at all.
    None,
}

/// Where and how to send email.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

impl SmtpUrl {
    pub fn settings(&self) -> Result<SmtpSettings, ConfigError> {
        let error = |message: &str| ConfigError {
            variable: "QUIRE_SMTP_URL",
            message: message.to_owned(),
        };
        let url = Url::parse(&self.0)
            .map_err(|_| error("is not a URL like smtp://user:password@mail.example.com:587"))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Implicit,
            _ => {
                return Err(error(
                    "must start with smtp:// (STARTTLS) or smtps:// (TLS)",
                ));
            }
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if tls == SmtpTls::StartTls => tls = SmtpTls::None,
                ("tls", "required") => {}
                _ => return Err(error("accepts only the option ?tls=none (with smtp://)")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| error("has no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            _ => 587,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| error("has a user name or password that is not UTF-8"))
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(SmtpSettings {
            host,
            port,
            tls,
            credentials,
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Open,
    Invite,
    Closed,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The site secret. Its `Debug` never shows the value, so it cannot reach a log.
#[derive(Clone)]
pub struct SecretKey(String);

pub const MIN_SECRET_LEN: usize = 32;

impl SecretKey {
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Never fails, so that clap, which quotes a value it refuses, never prints
/// a secret; the length is checked by [`Config::resolve_secret_key`].
impl FromStr for SecretKey {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl SecretKey {
    fn checked(self, origin: &str) -> Result<Self, ConfigError> {
        if self.0.chars().count() < MIN_SECRET_LEN {
            return Err(ConfigError {
                variable: "QUIRE_SECRET_KEY",
                message: format!(
                    "{origin}must be at least {MIN_SECRET_LEN} characters \
                     (generate one with `openssl rand -hex 32`)"
                ),
            });
        }
        Ok(self)
    }
}

fn parse_public_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
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

/// Something `quire check --deploy` has to say about a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Error(String),
    Warning(String),
}

impl Finding {
    pub fn is_error(&self) -> bool {
        matches!(self, Finding::Error(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Error(m) => write!(f, "error: {m}"),
            Finding::Warning(m) => write!(f, "warning: {m}"),
        }
    }
}

/// What is unsafe, or worth a second look, before serving the public.
pub fn deploy_findings(config: &Config, rust_log: Option<&str>) -> Vec<Finding> {
    use Finding::{Error, Warning};
    let mut findings = Vec::new();
    match &config.secret_key {
        None => findings.push(Warning(
            "QUIRE_SECRET_KEY is unset: the key generated into DATA_DIR/secret_key is used; \
             set it, so that every replica and every restore has the same one"
                .into(),
        )),
        Some(key) => {
            let distinct: std::collections::HashSet<u8> = key.expose().iter().copied().collect();
            if distinct.len() < 10 {
                findings.push(Error(
                    "QUIRE_SECRET_KEY looks like a placeholder (fewer than 10 different characters); \
                     generate one with `openssl rand -hex 32`"
                        .into(),
                ));
            }
        }
    }
    match &config.public_url {
        None => findings.push(Error(
            "QUIRE_PUBLIC_URL is unset: links in emails would point at http://BIND; \
             set the https:// address readers use"
                .into(),
        )),
        Some(url) if url.scheme() != "https" => findings.push(Error(format!(
            "QUIRE_PUBLIC_URL is {url}: without https, passwords and sessions travel \
             unencrypted and cookies are not marked Secure"
        ))),
        Some(_) => {}
    }
    if !config.is_postgres() && config.replicas > 1 {
        findings.push(Error(format!(
            "QUIRE_REPLICAS is {} but the database is SQLite, a file one process serves; \
             use PostgreSQL for several replicas",
            config.replicas
        )));
    }
    match config.smtp_url.as_ref().map(SmtpUrl::settings) {
        None => findings.push(Warning(
            "QUIRE_SMTP_URL is unset: emails, password resets included, are written to \
             DATA_DIR/outbox instead of being sent"
                .into(),
        )),
        Some(Ok(smtp))
            if smtp.tls == SmtpTls::None
                && !matches!(smtp.host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
        {
            findings.push(Warning(format!(
                "QUIRE_SMTP_URL has ?tls=none for {}: email and the SMTP password cross the \
                 network unencrypted",
                smtp.host
            )))
        }
        Some(_) => {}
    }
    if config.jobs.backup_schedule.is_none() {
        findings.push(Warning(
            "QUIRE_BACKUP_SCHEDULE is unset: no periodic backups (or make them outside Quire)"
                .into(),
        ));
    }
    if rust_log.is_some_and(|l| l.contains("debug") || l.contains("trace")) {
        findings.push(Warning(
            "RUST_LOG asks for debug logs: they are large and may hold personal data".into(),
        ));
    }
    findings
}

#[derive(Debug, thiserror::Error)]
#[error("{variable} {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl Config {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("quire.db").display()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        let url = self.database_url();
        url.starts_with("postgres:") || url.starts_with("postgresql:")
    }

    pub fn pool_size(&self) -> PoolSize {
        PoolSize(self.db_pool_size)
    }

    pub fn public_url(&self) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{}/", self.bind)).expect("a socket address makes a URL")
        })
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url().scheme() == "https"
    }

    /// The secret key: the configured one, or for a local (SQLite) setup one
    /// generated once into the data folder and reused after.
    pub fn resolve_secret_key(&self) -> Result<SecretKey, ConfigError> {
        if let Some(key) = &self.secret_key {
            return key.clone().checked("");
        }
        if self.is_postgres() {
            return Err(ConfigError {
                variable: "QUIRE_SECRET_KEY",
                message: "is required when the database is PostgreSQL (a production setup); \
                          set it to a random string of at least 32 characters"
                    .into(),
            });
        }
        load_or_generate_secret(&self.data_dir.join("secret_key"))
    }
}

fn load_or_generate_secret(path: &Path) -> Result<SecretKey, ConfigError> {
    let error = |message: String| ConfigError {
        variable: "QUIRE_SECRET_KEY",
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey(text.trim().to_owned())
            .checked(&format!("is unset, and the key in {} ", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let key: String = rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(64)
                .map(char::from)
                .collect();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    error(format!(
                        "is unset and {} cannot be created: {e}",
                        parent.display()
                    ))
                })?;
            }
            write_private(path, &key).map_err(|e| {
                error(format!(
                    "is unset and {} cannot be written: {e}",
                    path.display()
                ))
            })?;
            tracing::info!(path = %path.display(), "generated a secret key for this local installation");
            Ok(SecretKey(key))
        }
        Err(e) => Err(error(format!(
            "is unset and {} cannot be read: {e}",
            path.display()
        ))),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> Result<SmtpSettings, String> {
        SmtpUrl(url.to_owned())
            .settings()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_urls() {
        let s = smtp("smtp://me%40x.org:p%3Ass@mail.example.com").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.com", 587, SmtpTls::StartTls)
        );
        assert_eq!(s.credentials, Some(("me@x.org".into(), "p:ss".into())));
        let s = smtp("smtps://mail.example.com").unwrap();
        assert_eq!(
            (s.port, s.tls, s.credentials),
            (465, SmtpTls::Implicit, None)
        );
        let s = smtp("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((s.port, s.tls), (2525, SmtpTls::None));
        for bad in [
            "mail.example.com",
            "http://x",
            "smtps://x?tls=none",
            "smtp://x?debug=1",
        ] {
            let Err(error) = smtp(bad) else {
                panic!("{bad} was accepted");
            };
            assert!(error.starts_with("QUIRE_SMTP_URL"), "{error}");
        }
    }

    fn parse(args: &[&str]) -> Config {
        #[derive(clap::Parser)]
        struct Test {
            #[command(flatten)]
            config: Config,
        }
        let mut argv = vec!["quire"];
        argv.extend_from_slice(args);
        <Test as clap::Parser>::parse_from(argv).config
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
    fn deploy_findings_name_what_is_unsafe() {
        let safe = parse(&[
            "--database-url",
            "postgres://db/quire",
            "--secret-key",
            "3f9a1c7e5b2d8f4a6c0e1b3d5f7a9c2e",
            "--public-url",
            "https://blog.example.com",
            "--smtp-url",
            "smtps://mail.example.com",
            "--replicas",
            "3",
            "--backup-schedule",
            "0 30 3 * * *",
            "--backup-dest",
            "/backups",
        ]);
        assert_eq!(deploy_findings(&safe, Some("info")), vec![]);
        let unsafe_ = parse(&[
            "--secret-key",
            &"a".repeat(40),
            "--public-url",
            "http://blog.example.com",
            "--replicas",
            "2",
        ]);
        let findings: Vec<String> = deploy_findings(&unsafe_, Some("debug"))
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(findings.len(), 6, "{findings:#?}");
        for (finding, names) in findings.iter().zip([
            "error: QUIRE_SECRET_KEY",
            "error: QUIRE_PUBLIC_URL",
            "error: QUIRE_REPLICAS",
            "warning: QUIRE_SMTP_URL",
            "warning: QUIRE_BACKUP_SCHEDULE",
            "warning: RUST_LOG",
        ]) {
            assert!(finding.starts_with(names), "{finding}");
        }
    }

    #[test]
    fn schedules_fire_on_whole_seconds() {
        let every_second = Schedule::parse("* * * * * *").unwrap();
        let now = crate::db::Timestamp::now();
        let next = every_second.next_after(now);
        assert_eq!(next.unix_timestamp(), now.unix_timestamp() + 1);
        assert_eq!(next.as_datetime().nanosecond(), 0);
        let hourly = Schedule::parse("0 17 * * * *").unwrap();
        assert_eq!(hourly.next_after(now).as_datetime().minute(), 17);
        assert!(Schedule::parse("every tuesday").is_err());
    }
}
