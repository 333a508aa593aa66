//! Where the features are put together: the one place that names them all.
//!
//! `App::build` makes the application a process runs, [`router`] its web
//! server (every feature's pages and API routes, with what they share) and
//! [`jobs`] the kinds of background job its worker knows, and
//! [`job_gauges`] the queue's metrics. A new feature
//! adds its routes and jobs here and nowhere else.

use std::sync::Arc;

use anyhow::Context;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::app::{App, Parts};
use crate::config::{Settings, Switch};
use crate::db::{Db, MigrationStep, Timestamp};
use crate::features::{
    accounts, admin, comments, federation, feeds, imports, media, newsletter, pages, portability,
    posts, seo, visits,
};
use crate::http;
use crate::jobs::{self, Job, Registry};
use crate::mail::Mailer;
use crate::templates::Templates;

impl App {
    /// The application over a connected database, with its settings.
    pub fn build(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let mailer = Mailer::new(&settings)?;
        let storage = crate::storage::open(&settings.storage).context("QUIRE_STORAGE_URL")?;
        let templates = Templates::new(settings.site.theme_dir.clone());
        let mut parts = Parts::default();
        parts.insert(visits::Visits::start(db.clone()));
        parts.insert(posts::Previews::default());
        parts.insert(comments::Discussions::default());
        parts.insert(accounts::Sessions::default());
        parts.insert(posts::Relations::default());
        parts.insert(media::Uploads::default());
        parts.insert(media::serve::Kept::default());
        parts.insert(pages::NavCache::default());
        parts.insert(federation::Federation::new(&settings.federation));
        parts.insert(federation::inbox::Budgets::default());
        parts.insert(accounts::limits::Limits::new(
            settings.http.rate_limits == Switch::On,
        ));
        parts.insert(newsletter::Budget::new(
            settings.http.rate_limits == Switch::On,
        ));
        Ok(App::new(
            db,
            Arc::new(settings),
            Arc::new(templates),
            mailer,
            storage,
            parts,
        ))
    }

    /// Writes what the features still hold in memory (views queued by the
    /// last requests), before the pool closes.
    pub async fn flush(&self) {
        self.part::<visits::Visits>().recorder.flush().await;
    }
}

/// The steps in Rust that go between the SQL migrations, for every caller
/// of `Db::migrate_up`.
pub const MIGRATION_STEPS: &[MigrationStep] = &[accounts::FILL_USERNAME_KEYS];

/// Route templates whose paths carry a secret (a reset or unsubscribe
/// link): never logged or reported as they were requested.
pub const SECRET_ROUTES: &[&str] = &[
    accounts::web::CONFIRM_ROUTE,
    accounts::web::ADDRESS_ROUTE,
    accounts::web::RESET_ROUTE,
    accounts::web::UNSUBSCRIBE_ROUTE,
    newsletter::web::CONFIRM_ROUTE,
    newsletter::web::MANAGE_ROUTE,
    newsletter::web::UNSUBSCRIBE_ROUTE,
];

/// The whole application as a router, ready to serve.
pub fn router(app: App) -> Router {
    let sessions =
        SessionManagerLayer::new(accounts::session_store::DbSessionStore::new(app.db.clone()))
            .with_name(http::pages::SESSION_COOKIE)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(app.settings.http.secure_cookies())
            // Records are saved when they change (sign-in), not on every request,
            // so a session lasts 30 days from sign-in: no database write per page
            // view.
            .with_expiry(Expiry::OnInactivity(time::Duration::days(30)));

    // Outermost last: the session, who is signed in, the header's links,
    // the page context, then the maintenance gate, which lets
    // administrators through.
    let site = Router::new()
        .merge(accounts::web::routes())
        .merge(posts::web::routes(&app))
        .merge(comments::web::routes(&app))
        .merge(feeds::web::routes())
        .merge(seo::routes())
        .merge(visits::web::routes())
        .merge(media::web::routes(&app))
        .merge(admin::routes())
        .merge(pages::web::routes())
        .merge(portability::routes())
        .merge(imports::admin::routes(&app))
        .merge(federation::pages(&app))
        .merge(newsletter::web::routes())
        .merge(newsletter::admin::routes())
        .fallback(http::pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            imports::web::redirect_old_addresses,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (app.clone(), http::gate::Renderer::Page),
            http::gate::gate,
        ))
        .layer(axum::middleware::from_fn(
            http::extract::refuse_control_characters,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::pages::page_context,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            pages::web::load_nav,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            accounts::extract::load_viewer,
        ))
        .layer(sessions)
        // Outside the session: a reader without one is answered from the
        // cache before any of it runs.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::cache::serve,
        ))
        // Outside the cache: a post's address asked for as ActivityPub JSON
        // is answered with its document, never with a cached page.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            federation::objects::negotiate,
        ));

    let api = OpenApiRouter::new()
        .merge(accounts::api::routes())
        .merge(posts::api::routes())
        .merge(comments::api::routes())
        .merge(visits::api::routes())
        .merge(portability::site::routes())
        .merge(newsletter::api::routes())
        .merge(
            media::api::routes().layer(DefaultBodyLimit::max(media::body_limit(
                &app.settings.media,
            ))),
        );

    let routes = Router::new()
        .merge(http::assets::routes())
        .merge(media::serve::routes())
        .merge(federation::routes(&app))
        .nest(
            "/api",
            http::api::router(&app, api)
                .layer(axum::middleware::from_fn_with_state(
                    app.clone(),
                    accounts::extract::load_api_user,
                ))
                .layer(http::api::cors(&app.settings.http.cors_origins)),
        )
        .merge(site)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            http::cache::forget_on_change,
        ))
        .layer(DefaultBodyLimit::max(app.settings.http.max_body_bytes));
    http::with_operations(routes, app)
}

/// Every kind of job and event, each event's subscribers, and the periodic
/// jobs this configuration asks for: what a worker runs.
pub fn jobs(settings: &Settings) -> Registry {
    let mut registry = Registry::default();
    registry
        .register::<accounts::emails::WelcomeEmail>()
        .register::<accounts::reset::PasswordResetEmail>()
        .register::<accounts::signup::RegistrationEmail>()
        .register::<accounts::address::AddressChangeEmail>()
        .register::<comments::emails::ReplyEmail>()
        .register::<crate::backup::Backup>()
        .register::<Housekeeping>()
        .register::<media::MakeVariants>()
        .register::<imports::runs::ImportUpload>()
        .register::<portability::site::ExportSite>()
        .register::<federation::delivery::Deliver>()
        .register::<federation::emails::WaitingReplyEmail>()
        .register::<federation::pictures::CopyPicture>()
        .register::<newsletter::subscribers::ConfirmationEmail>()
        .register::<newsletter::sending::SendBatch>()
        .register::<newsletter::sending::TestEmail>()
        .every(settings.jobs.housekeeping_schedule.clone(), Housekeeping)
        .event::<accounts::AccountCreated>()
        .event::<accounts::AccountDeleted>()
        .event::<posts::PostPublished>()
        .event::<posts::PostUpdated>()
        .event::<posts::PostDeleted>()
        .event::<comments::CommentCreated>()
        .subscribe("welcome email", accounts::emails::welcome_new_account)
        .subscribe("reply emails", comments::emails::email_replies)
        .subscribe("federate new posts", federation::delivery::post_published)
        .subscribe("federate edits", federation::delivery::post_updated)
        .subscribe("federate deletions", federation::delivery::post_deleted)
        .subscribe("federate comments", federation::delivery::comment_created)
        .subscribe("email new posts", newsletter::sending::post_published)
        .subscribe(
            "likes of deleted accounts",
            posts::forget_likes_of_deleted_account,
        )
        .subscribe(
            "media of deleted accounts",
            media::forget_media_of_deleted_account,
        );
    if let Some(schedule) = &settings.jobs.backup_schedule {
        registry.every(schedule.clone(), crate::backup::Backup);
    }
    registry
}

/// The `quire_jobs` gauges, refreshed at each metrics scrape, for every
/// kind this build knows.
pub fn job_gauges(db: Db, registry: &Registry) -> crate::metrics::Refresh {
    let kinds: Arc<Vec<&'static str>> = Arc::new(registry.kinds().collect());
    Arc::new(move || {
        let (db, kinds) = (db.clone(), kinds.clone());
        Box::pin(async move { jobs::set_gauges(&db, &kinds).await })
    })
}

/// Removes expired sessions, reset links, registrations and changes of
/// address never confirmed, invites, old finished jobs and old events, and
/// images nothing has used for a day, and the ids of activities taken two
/// days ago; gives accounts made by an older
/// release their username key.

#[derive(Debug, Serialize, Deserialize)]
pub struct Housekeeping;

impl Job for Housekeeping {
    const KIND: &'static str = "housekeeping";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let accounts = accounts::purge_expired(&app.db, now).await?;
        let jobs = jobs::purge_finished(&app.db, now).await?;
        let events = jobs::events::purge(&app.db, now).await?;
        let username_keys = accounts::fill_username_keys(&app.db).await?;
        let media = media::purge_unused(app, now).await?;
        let activities_seen = federation::inbox::purge_seen(&app.db, now).await?;
        tracing::info!(
            activities_seen,
            ?accounts,
            jobs,
            events,
            username_keys,
            ?media,
            "housekeeping done"
        );
        Ok(())
    }
}
