//! The owner's view of the newsletter (`/admin/newsletter`): subscribers by
//! state and their growth, each post's send with its progress and what
//! became of it, the list as CSV, an import of addresses whose consent the
//! owner notes, and a test send to oneself.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::sending;
use super::subscribers::{self, Audience, Consent};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem};
use crate::features::accounts::domain::Email;
use crate::features::accounts::extract::Admin;
use crate::http::extract::CsrfForm;
use crate::http::pages::PageCtx;
use crate::jobs::{self, Job};

/// Addresses one import takes.
const MAX_IMPORT: usize = 10_000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/newsletter", get(page))
        .route("/admin/newsletter/subscribers.csv", get(export))
        .route("/admin/newsletter/import", post(import))
        .route("/admin/newsletter/test", post(test_send))
}

/// A post's send, as the page shows it.
#[derive(Debug, FromRow, Serialize)]
struct Send {
    id: i64,
    title: String,
    slug: String,
    recipients: i64,
    sent: i64,
    bounced: i64,
    failed: i64,
    skipped: i64,
    created_at: Timestamp,
    finished_at: Option<Timestamp>,
}

#[derive(Debug, FromRow, Serialize)]
struct Emailable {
    id: i64,
    title: String,
}

async fn render(
    app: &App,
    ctx: &PageCtx,
    status: StatusCode,
    done: Option<&str>,
    errors: Option<FieldErrors>,
    form: Option<ImportForm>,
) -> AppResult<Response> {
    let by_state: Vec<(String, i64)> =
        query("SELECT state, COUNT(*) FROM subscribers GROUP BY state ORDER BY state")
            .fetch_all(&app.db)
            .await?;
    let counts: BTreeMap<String, i64> = by_state.into_iter().collect();
    // Confirmed each month, the last twelve.
    let since = Timestamp::now() - time::Duration::days(366);
    let confirmed: Vec<Timestamp> =
        query("SELECT confirmed_at FROM subscribers WHERE confirmed_at >= $1")
            .bind(since)
            .scalars(&app.db)
            .await?;
    let mut growth: BTreeMap<String, i64> = BTreeMap::new();
    for at in confirmed {
        let date = at.as_datetime().date();
        *growth
            .entry(format!("{}-{:02}", date.year(), u8::from(date.month())))
            .or_default() += 1;
    }
    let sends: Vec<Send> = query(
        "SELECT s.id, p.title, p.slug, s.recipients, s.created_at, s.finished_at,
            (SELECT COUNT(*) FROM newsletter_deliveries d WHERE d.send_id = s.id AND d.state = 'sent') AS sent,
            (SELECT COUNT(*) FROM newsletter_deliveries d WHERE d.send_id = s.id AND d.state = 'bounced') AS bounced,
            (SELECT COUNT(*) FROM newsletter_deliveries d WHERE d.send_id = s.id AND d.state = 'failed') AS failed,
            (SELECT COUNT(*) FROM newsletter_deliveries d WHERE d.send_id = s.id AND d.state = 'skipped') AS skipped
         FROM newsletter_sends s JOIN posts p ON p.id = s.post_id
         ORDER BY s.id DESC LIMIT 20",
    )
    .fetch_all(&app.db)
    .await?;
    let running = sends.iter().any(|s| s.finished_at.is_none());
    let posts: Vec<Emailable> = query(
        "SELECT id, title FROM posts WHERE status = 'published' ORDER BY published_at DESC LIMIT 20",
    )
    .fetch_all(&app.db)
    .await?;
    Ok(ctx.render_status(
        app,
        status,
        "admin_newsletter.html",
        context! {
            counts => Serde(counts),
            growth => Serde(growth),
            sends => Serde(sends),
            running,
            posts => Serde(posts),
            done,
            errors => Serde(errors),
            form => Serde(form),
        },
    ))
}

async fn page(State(app): State<App>, ctx: PageCtx, Admin(_): Admin) -> AppResult<Response> {
    render(&app, &ctx, StatusCode::OK, None, None, None).await
}

/// Every subscriber, as CSV: address, state, what they get, consent, dates.
async fn export(State(app): State<App>, Admin(_): Admin) -> AppResult<Response> {
    #[derive(FromRow)]
    struct Row {
        id: i64,
        email: String,
        state: String,
        consent: String,
        created_at: Timestamp,
        confirmed_at: Option<Timestamp>,
    }
    let rows: Vec<Row> = query(
        "SELECT id, email, state, consent, created_at, confirmed_at FROM subscribers ORDER BY id",
    )
    .fetch_all(&app.db)
    .await?;
    let audiences: Vec<(i64, Option<String>)> = query(
        "SELECT s.subscriber_id, u.username FROM subscriptions s
         LEFT JOIN users u ON u.id = s.author_id ORDER BY s.subscriber_id, u.username",
    )
    .fetch_all(&app.db)
    .await?;
    let mut gets: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (id, author) in audiences {
        gets.entry(id)
            .or_default()
            .push(author.unwrap_or_else(|| "blog".to_owned()));
    }
    let mut csv = String::from("email,state,subscriptions,consent,created_at,confirmed_at\r\n");
    for row in rows {
        let fields = [
            row.email,
            row.state,
            gets.remove(&row.id).unwrap_or_default().join(" "),
            row.consent,
            row.created_at.to_string(),
            row.confirmed_at.map(|t| t.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        csv.push_str(&line.join(","));
        csv.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"subscribers.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        csv,
    )
        .into_response())
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is
/// kept from spreadsheets' formulas.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
struct ImportForm {
    /// One address a line, or a CSV whose first column is the address
    /// (this page's export is one).
    #[serde(default)]
    addresses: String,
    /// How these people consented: kept with each.
    #[serde(default)]
    consent: String,
}

/// Subscribes each address to the whole blog, confirmed: the owner states
/// how they consented, and that note is kept with each.
async fn import(
    State(app): State<App>,
    ctx: PageCtx,
    Admin(_): Admin,
    CsrfForm(form): CsrfForm<ImportForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::new();
    let consent = form.consent.trim();
    if consent.is_empty() {
        errors.add("consent", Problem::Blank);
    } else if consent.chars().count() > 200 {
        errors.add("consent", Problem::TooLong { max: 200 });
    }
    let mut addresses = Vec::new();
    let mut refused = Vec::new();
    for line in form.addresses.lines() {
        let first = line.split([',', ';', '\t']).next().unwrap_or_default();
        let first = first.trim().trim_matches('"');
        if first.is_empty() || first.eq_ignore_ascii_case("email") {
            continue;
        }
        match Email::parse(first) {
            Ok(email) => addresses.push(email),
            Err(_) => refused.push(first.chars().take(80).collect::<String>()),
        }
    }
    if addresses.is_empty() && refused.is_empty() {
        errors.add("addresses", Problem::Blank);
    } else if addresses.len() > MAX_IMPORT {
        errors.add("addresses", Problem::TooMany { max: MAX_IMPORT });
    } else if !refused.is_empty() {
        errors.add(
            "addresses",
            Problem::Explained(format!(
                "has lines that are not email addresses: {}",
                refused
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    if !errors.is_empty() {
        return render(
            &app,
            &ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(errors),
            Some(form),
        )
        .await;
    }
    let consent = Consent::Imported(consent.to_owned());
    for email in &addresses {
        subscribers::request(&app, email, Audience::Blog, consent.clone()).await?;
    }
    tracing::info!(count = addresses.len(), "newsletter: addresses imported");
    let done = format!("Imported {} addresses.", addresses.len());
    render(&app, &ctx, StatusCode::OK, Some(&done), None, None).await
}

#[derive(Debug, Deserialize)]
struct TestForm {
    post_id: i64,
}

/// Emails a post to the owner's own address, now, as subscribers get it.
async fn test_send(
    State(app): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    CsrfForm(form): CsrfForm<TestForm>,
) -> AppResult<Response> {
    let Some(to) = user.email.clone() else {
        return Err(AppError::Forbidden(crate::error::Thing::Profile));
    };
    jobs::enqueue(
        &app.db,
        &sending::TestEmail {
            post_id: form.post_id,
            to,
        }
        .now(),
    )
    .await?;
    let done = "A test email is on its way to your address.";
    render(&app, &ctx, StatusCode::OK, Some(done), None, None).await
}
