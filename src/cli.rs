//! The command line: one binary, several roles.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand};

use crate::app::App;
use crate::config::{DatabaseSettings, Flags, Settings, Switch};
use crate::db::{Db, MigrationState};
use crate::features::accounts;
use crate::http::Server;
use crate::jobs::run_worker;
use crate::maintenance;

#[derive(Parser, Debug)]
#[command(name = "quire", version, about = "A self-hosted blogging platform")]
pub struct Cli {
    #[command(flatten)]
    pub flags: Flags,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the site. With SQLite it migrates its database first; with
    /// PostgreSQL only when given --migrate (run `quire migrate up` as a
    /// separate step of a deploy instead).
    Serve {
        /// Apply pending migrations before serving (PostgreSQL).
        #[arg(long, env = "QUIRE_MIGRATE")]
        migrate: bool,
        /// Do not run background jobs in this process (same as QUIRE_WORKER=off):
        /// separate `quire worker` processes run them.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run background jobs (emails, housekeeping) until SIGTERM; as many
    /// worker processes as needed can share one database.
    Worker,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Check the configuration and that the database is reachable and migrated.
    Check {
        /// Also report what is unsafe for production: exit 1 on errors, 0 with warnings only.
        #[arg(long)]
        deploy: bool,
    },
    /// Ask a running server whether it is ready (GET /readyz): exit 0 if so.
    /// For container health checks in images without curl.
    Healthcheck {
        /// The server's address; defaults to http://BIND (127.0.0.1 for 0.0.0.0).
        #[arg(long)]
        url: Option<url::Url>,
    },
    /// Write a consistent snapshot of the database into a new folder under
    /// DEST, with a manifest of checksums.
    Backup {
        /// A folder, or `s3://BUCKET/PREFIX` (credentials from the AWS_*
        /// variables); each backup is a `quire-TIMESTAMP` folder inside it.
        dest: crate::backup::Location,
    },
    /// Restore a backup made by `quire backup` after checking its
    /// checksums. Refuses a database that holds data unless --force.
    Restore {
        /// The backup's folder or its `s3://BUCKET/PREFIX/quire-TIMESTAMP`;
        /// or the DEST given to `quire backup`, whose newest backup is taken.
        src: crate::backup::Location,
        /// Replace a database that is not empty.
        #[arg(long)]
        force: bool,
        /// Only list the finished backups in SRC, oldest first.
        #[arg(long)]
        list: bool,
    },
    /// Write the whole site (every table, every uploaded file) to FILE, a
    /// portable archive (docs/archive.md) that `quire import` loads into
    /// either database. Reads one consistent snapshot while the site serves.
    Export {
        /// The archive to write, e.g. `site.quire.tar.gz`.
        file: std::path::PathBuf,
    },
    /// Load an archive made by `quire export` into this site, which must be
    /// new and empty (or, with --merge, is merged with it): all of it, or on
    /// any error none of it. With --from, bring in the posts and pages of
    /// another blog instead (again and again: what was imported before is
    /// updated, not copied).
    Import {
        /// The archive, or with --from the other blog's export.
        path: std::path::PathBuf,
        /// What PATH is: `markdown` (a Jekyll or Hugo site's folder),
        /// `wordpress` or `ghost` (their export files).
        #[arg(long)]
        from: Option<crate::features::imports::Format>,
        /// Whose posts they all become (with --from). Without it, each is
        /// the account's here with its author's name or address there, or
        /// else the owner's.
        #[arg(long, requires = "from")]
        author: Option<String>,
        /// Merge the archive into a site that holds data: new ids for its
        /// rows, the same account, tag or image where both sites have it.
        #[arg(long, conflicts_with = "from")]
        merge: bool,
    },
    /// Put the site in maintenance mode, take it out, or say which it is in.
    /// Every replica follows within seconds; administrators keep access.
    Maintenance {
        #[command(subcommand)]
        action: MaintenanceAction,
    },
    /// Visit counting.
    Visits {
        #[command(subcommand)]
        action: VisitsAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceAction {
    /// Visitors get a 503 page saying MESSAGE, with Retry-After.
    On {
        #[arg(long)]
        message: Option<String>,
    },
    Off,
    Status,
}

#[derive(Subcommand, Debug)]
pub enum VisitsAction {
    /// Recompute every visit total from the visit events.
    Rebuild,
}

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: usize,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Create an account. The password is read from standard input (or
    /// asked for on a terminal), never from the command line, where other
    /// users of the machine could see it.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
    },
}

/// The settings that hold a secret, each of which may instead be read from
/// a file named by the same variable with `_FILE` appended.
const SECRET_VARIABLES: [&str; 4] = [
    "QUIRE_DATABASE_URL",
    "QUIRE_SECRET_KEY",
    "QUIRE_SMTP_URL",
    "SENTRY_DSN",
];

pub fn main() -> ExitCode {
    // Every TLS client (S3, SMTP, PostgreSQL, Sentry, OTLP) uses ring;
    // reqwest's clients take the process default, set before any exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: reading .env: {e}");
        return ExitCode::from(2);
    }
    // OpenTelemetry's and Sentry's variables are off when set but empty, as
    // their specifications say; clap would take "" for a value.
    for standard in [
        "SENTRY_DSN",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_SDK_DISABLED",
    ] {
        if std::env::var_os(standard).is_some_and(|v| v.is_empty()) {
            // SAFETY: no other thread exists yet; the runtime starts below.
            unsafe { std::env::remove_var(standard) };
        }
    }
    // Secrets mounted as files (Docker and Kubernetes secrets, systemd
    // credentials): VAR_FILE names a file whose content is VAR.
    for secret in SECRET_VARIABLES {
        let file = format!("{secret}_FILE");
        let Some(path) = std::env::var_os(&file).filter(|p| !p.is_empty()) else {
            continue;
        };
        if std::env::var_os(secret).is_some() {
            eprintln!("error: {secret} and {file} are both set; set one of them");
            return ExitCode::from(2);
        }
        match std::fs::read_to_string(&path) {
            // SAFETY: no other thread exists yet; the runtime starts below.
            Ok(value) => unsafe { std::env::set_var(secret, value.trim_end_matches(['\r', '\n'])) },
            Err(e) => {
                eprintln!("error: {file}: cannot read {}: {e}", path.to_string_lossy());
                return ExitCode::from(2);
            }
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            name_the_variable(&e);
            e.exit();
        }
    };
    // Before the runtime starts, so its threads report too.
    let _telemetry =
        match crate::telemetry::init(&cli.flags.telemetry(), crate::assembly::SECRET_ROUTES) {
            Ok(telemetry) => telemetry,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// clap names the flag of a bad value; most operators set the variable, so
/// name that too.
fn name_the_variable(error: &clap::Error) {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return;
    };
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches('-');
    let command = Cli::command();
    if let Some(env) = command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env())
    {
        eprintln!(
            "note: this value comes from --{long} or the {} environment variable",
            env.to_string_lossy()
        );
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = cli.flags;
    match cli.command {
        Command::Serve { migrate, no_worker } => serve(flags.settings()?, migrate, no_worker).await,
        Command::Worker => worker(flags.settings()?).await,
        Command::Migrate { action } => {
            let db = connect(&flags.database()).await?;
            match action {
                MigrateAction::Up => {
                    let applied = db.migrate_up(crate::assembly::MIGRATION_STEPS).await?;
                    println!("applied {applied} migration(s)");
                }
                MigrateAction::Down { steps } => {
                    let reverted = db.migrate_down(steps).await?;
                    println!("reverted {reverted} migration(s)");
                }
                MigrateAction::Status => {
                    for m in db.migration_status().await? {
                        println!(
                            "{:<16} {:<8} {}",
                            m.version,
                            format!("{:?}", m.state).to_lowercase(),
                            m.description
                        );
                    }
                }
            }
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    username,
                    email,
                    admin,
                },
        } => {
            let password = read_password()?;
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            match accounts::create_from_cli(&db, &username, &email, &password, admin).await {
                Ok(user) => {
                    println!("created {} ({:?})", user.username, user.role);
                    Ok(())
                }
                Err(crate::error::AppError::Validation(errors)) => {
                    let problems: Vec<String> = errors
                        .iter()
                        .flat_map(|(f, ms)| ms.iter().map(move |m| format!("{f} {m}")))
                        .collect();
                    bail!("{}", problems.join("; "))
                }
                Err(e) => Err(anyhow::anyhow!(e)),
            }
        }
        Command::Check { deploy } => check(flags, deploy).await,
        Command::Healthcheck { url } => healthcheck(flags.bind, url).await,
        Command::Backup { dest } => {
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            let files = crate::storage::open(&flags.storage()).context("QUIRE_STORAGE_URL")?;
            let folder = dest
                .open()
                .await?
                .backup(&db, &flags.database().url, files.as_ref())
                .await?;
            db.close().await;
            println!("backed up to {folder}");
            Ok(())
        }
        Command::Restore {
            src, list: true, ..
        } => {
            let finished = src.open().await?.finished().await?;
            if finished.is_empty() {
                bail!("{src} holds no finished Quire backup");
            }
            for name in finished {
                println!("{name}");
            }
            Ok(())
        }
        Command::Restore { src, force, .. } => {
            let db = connect(&flags.database()).await?;
            let files = crate::storage::open(&flags.storage()).context("QUIRE_STORAGE_URL")?;
            let manifest =
                crate::backup::restore(&flags.database().url, db, &src, force, files.as_ref())
                    .await?;

            println!(
                "restored the {} backup of {} (made by Quire {}); `quire migrate up` applies any newer migrations",
                manifest.backend, manifest.created_at, manifest.quire_version
            );
            Ok(())
        }
        Command::Export { file } => {
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            let files = crate::storage::open(&flags.storage()).context("QUIRE_STORAGE_URL")?;
            let manifest = crate::archive::export(&db, files.as_ref(), &file).await?;
            db.close().await;
            println!(
                "exported {} rows and {} files to {}",
                manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
                manifest.media.len(),
                file.display()
            );
            Ok(())
        }
        Command::Import {
            path,
            from: Some(format),
            author,
            ..
        } => {
            let settings = flags.settings()?;
            let db = connect(&settings.database).await?;
            ensure_migrated(&db).await?;
            let app = App::build(settings, db.clone())?;
            let named;
            let owner;
            let authors = match &author {
                Some(name) => {
                    named = accounts::find_active_by_username(&db, name)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?
                        .ok_or_else(|| anyhow::anyhow!("--author {name}: no such account"))?;
                    crate::features::imports::Authors::All(&named)
                }
                None => {
                    owner = accounts::find_owner(&db)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "the site has no owner yet: register first, or give --author"
                            )
                        })?;
                    crate::features::imports::Authors::Matched(&owner)
                }
            };
            let report = crate::features::imports::import(&app, format, &path, authors).await?;
            crate::http::cache::announce_change(&app)
                .await
                .context("telling the running servers of the import")?;
            db.close().await;
            print!("{report}");
            Ok(())
        }
        Command::Import {
            path: file, merge, ..
        } => {
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            let files = crate::storage::open(&flags.storage()).context("QUIRE_STORAGE_URL")?;
            let manifest = crate::archive::import(&db, files.as_ref(), &file, merge).await?;
            db.close().await;
            println!(
                "imported {} rows and {} files from the {} site archived at {} (Quire {})",
                manifest.tables.iter().map(|t| t.rows).sum::<u64>(),
                manifest.media.len(),
                manifest.backend,
                manifest.created_at,
                manifest.quire_version
            );
            Ok(())
        }
        Command::Maintenance { action } => {
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            let fail = |e: crate::error::AppError| anyhow::anyhow!(e);
            match action {
                MaintenanceAction::On { message } => {
                    let on = maintenance::turn_on(&db, message.as_deref())
                        .await
                        .map_err(fail)?;
                    println!("maintenance mode on: {}", on.message);
                }
                MaintenanceAction::Off => {
                    maintenance::turn_off(&db).await.map_err(fail)?;
                    println!("maintenance mode off");
                }
                MaintenanceAction::Status => match maintenance::status(&db).await.map_err(fail)? {
                    Some(on) => println!("on since {}: {}", on.since, on.message),
                    None => println!("off"),
                },
            }
            println!(
                "(every process follows within {} s)",
                maintenance::REFRESH.as_secs()
            );
            Ok(())
        }
        Command::Visits {
            action: VisitsAction::Rebuild,
        } => {
            let db = connect(&flags.database()).await?;
            ensure_migrated(&db).await?;
            let rebuilt = crate::features::visits::rebuild_totals(&db)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            println!(
                "rebuilt the totals of {} visitors and {} posts",
                rebuilt.visitors, rebuilt.posts
            );
            Ok(())
        }
    }
}

async fn connect(database: &DatabaseSettings) -> anyhow::Result<Db> {
    let wait = database.wait.then_some(Duration::from_secs(60));
    Db::connect(&database.url, database.pool_size, wait)
        .await
        .context("QUIRE_DATABASE_URL")
}

/// Refuses to go on against a database with pending or unknown migrations.
/// Newer ones are the next release's, made during a rolling deploy: this
/// one keeps serving on them (expand/contract), and says so.
async fn ensure_migrated(db: &Db) -> anyhow::Result<()> {
    let status = db.migration_status().await?;
    let listed = |state: MigrationState, full: bool| -> Vec<String> {
        status
            .iter()
            .filter(|m| m.state == state)
            .map(|m| {
                if full {
                    format!("{} {}", m.version, m.description)
                } else {
                    m.version.to_string()
                }
            })
            .collect()
    };
    let unknown = listed(MigrationState::Unknown, false);
    if !unknown.is_empty() {
        bail!(
            "the database has migrations this version does not know ({}), older than its own: \
             a migration was removed, or this is another application's database",
            unknown.join(", ")
        );
    }
    let pending = listed(MigrationState::Pending, true);
    if !pending.is_empty() {
        bail!(
            "the database has pending migrations ({}): run `quire migrate up` first, or serve with --migrate",
            pending.join(", ")
        );
    }
    let newer = listed(MigrationState::Newer, false);
    if !newer.is_empty() {
        tracing::warn!(
            migrations = newer.join(", "),
            "the database has a newer release's migrations; this release keeps working on them"
        );
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Again: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut text = String::new();
        stdin.lock().read_to_string(&mut text)?;
        text.lines().next().unwrap_or("").to_owned()
    };
    Ok(password)
}

/// Connects, and migrates where this role may: always with embedded
/// SQLite, with PostgreSQL only when asked (a deploy runs `quire migrate`
/// once, not every replica at once). Then refuses pending or unknown
/// migrations.
async fn connect_migrated(database: &DatabaseSettings, migrate: bool) -> anyhow::Result<Db> {
    let db = connect(database).await?;
    if migrate || !database.is_postgres() {
        let applied = db
            .migrate_up(crate::assembly::MIGRATION_STEPS)
            .await
            .context("applying migrations")?;
        if applied > 0 {
            tracing::info!(applied, "applied migrations");
        }
    }
    ensure_migrated(&db).await?;
    Ok(db)
}

async fn serve(settings: Settings, migrate: bool, no_worker: bool) -> anyhow::Result<()> {
    let db = connect_migrated(&settings.database, migrate).await?;
    let run_jobs = !no_worker && settings.jobs.in_process == Switch::On;
    let bind = settings.http.bind;
    let public_url = settings.http.public_url();
    // The web server and the worker share one App.
    let registry = Arc::new(crate::assembly::jobs(&settings));
    let app = App::build(settings, db.clone())?;
    let http = app.settings.http.clone();
    let lifecycle = app.lifecycle.clone();
    let limits = crate::http::ConnectionLimits::of(&app.settings.http);
    let server = Server::bind(bind, crate::assembly::router(app.clone()), limits)
        .await
        .with_context(|| format!("QUIRE_BIND: cannot listen on {bind}"))?;
    tracing::info!(address = %server.local_addr()?, %public_url, backend = db.backend(), jobs = run_jobs, "serving");
    let changes = crate::http::cache::listen_for_changes(&app);
    // SIGTERM: readiness turns 503 at once while requests are still served
    // for QUIRE_SHUTDOWN_DRAIN (balancers notice and stop sending); then the
    // server takes no new connections and the worker no new jobs, and
    // in-flight requests get QUIRE_SHUTDOWN_TIMEOUT to finish.
    let (drain, timeout) = (http.shutdown_drain, http.shutdown_timeout);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        lifecycle.drain();
        tracing::info!(
            ?drain,
            "draining: /readyz answers 503, requests are still served"
        );
        tokio::time::sleep(drain).await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let worker = run_jobs.then(|| {
        tokio::spawn(run_worker(
            app.clone(),
            registry.clone(),
            until_stopped(stopped.clone()),
        ))
    });
    let metrics = http.metrics_bind.map(|bind| {
        tokio::spawn(crate::metrics::serve(
            bind,
            db.clone(),
            crate::assembly::job_gauges(db.clone(), &registry),
            until_stopped(stopped.clone()),
        ))
    });
    let serving = server.run(until_stopped(stopped.clone()));
    let overdue = async {
        until_stopped(stopped).await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        served = serving => served?,
        () = overdue => tracing::warn!(?timeout, "requests still in flight after QUIRE_SHUTDOWN_TIMEOUT; stopping anyway"),
    }
    if let Some(worker) = worker {
        worker.await??;
    }
    if let Some(metrics) = metrics {
        metrics.await??;
    }
    signal.abort();
    if let Some(changes) = changes {
        changes.abort();
    }
    // Views queued by the last requests are written before the pool closes.
    app.flush().await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn worker(settings: Settings) -> anyhow::Result<()> {
    let db = connect_migrated(&settings.database, false).await?;
    let metrics_bind = settings.http.metrics_bind;
    let registry = Arc::new(crate::assembly::jobs(&settings));
    let app = App::build(settings, db.clone())?;
    // The worker's job outcomes, on its own metrics address.
    let metrics = metrics_bind.map(|bind| {
        tokio::spawn(crate::metrics::serve(
            bind,
            db.clone(),
            crate::assembly::job_gauges(db.clone(), &registry),
            std::future::pending(),
        ))
    });
    run_worker(app, registry, shutdown_signal()).await?;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn check(flags: Flags, deploy: bool) -> anyhow::Result<()> {
    let settings = flags.settings()?;
    let db = connect(&settings.database).await?;
    db.ping()
        .await
        .context("QUIRE_DATABASE_URL: the database does not answer")?;
    ensure_migrated(&db).await?;
    let app = App::build(settings, db.clone())?;
    crate::storage::check(app.storage.as_ref(), &app.settings.storage)
        .await
        .context("QUIRE_STORAGE_URL")?;
    println!(
        "ok: configuration valid, {} database reachable and migrated, storage at {} reachable",
        db.backend(),
        app.settings.storage
    );
    let settings = &app.settings;
    if !deploy {
        return Ok(());
    }
    let findings =
        crate::config::deploy_findings(settings, std::env::var("RUST_LOG").ok().as_deref());
    for finding in &findings {
        println!("{finding}");
    }
    let errors = findings.iter().filter(|f| f.is_error()).count();
    if errors > 0 {
        bail!("{errors} setting(s) are unsafe for production");
    }
    println!(
        "ok: nothing unsafe for production{}",
        if findings.is_empty() {
            ""
        } else {
            " (see the warnings)"
        }
    );
    Ok(())
}

async fn healthcheck(bind: std::net::SocketAddr, url: Option<url::Url>) -> anyhow::Result<()> {
    let base = match url {
        Some(url) => url,
        None => {
            let mut bind = bind;
            if bind.ip().is_unspecified() {
                bind.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            url::Url::parse(&format!("http://{bind}/"))?
        }
    };
    let readyz = base.join("readyz")?;
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?
        .get(readyz.clone())
        .send()
        .await
        .with_context(|| format!("{readyz} does not answer"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    println!("{status} {body}");
    if !status.is_success() {
        bail!("not ready");
    }
    Ok(())
}
