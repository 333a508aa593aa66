//! The listing and writing pages: home (blog mode), the editor, author and
//! tag pages, drafts. The post page itself, with its discussion, is the
//! comments feature's.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{
    Listing, Post, PostFields, PostInput, PostState, Publication, preview_links, split_tags,
};
use crate::app::App;
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::extract::{Page, ReaderZone, SignedIn, Viewer};
use crate::features::accounts::{self, User};
use crate::features::media::{self, FormUploads, UploadQuery};
use crate::http::extract::{CsrfForm, CsrfFormData, NoFields};
use crate::http::pages::see_other;
use crate::markdown::{self, Shape};
use crate::zone::Zone;

pub const PER_PAGE: i64 = 10;

pub fn routes(app: &App) -> Router<App> {
    // The editor's form carries images ("Upload images").
    let images = DefaultBodyLimit::max(media::form_body_limit(&app.settings));
    Router::new()
        .route("/", get(home))
        .route("/editor", get(new_post).post(create).layer(images))
        .route("/posts/{slug}/edit", get(edit).post(update).layer(images))
        .route("/posts/{slug}/delete", get(confirm_delete).post(delete))
        .route("/posts/{slug}/preview-link", post(preview_link))
        .route("/preview", post(preview))
        .route("/users/{username}", get(author))
        .route("/tags/{tag}", get(tag))
        .route("/drafts", get(drafts))
        .route("/search", get(search))
}

/// How long a card's automatic summary is, in characters: two lines or so.
pub const CARD_SUMMARY_CHARS: usize = 160;

/// A post as pages show it.
#[derive(Serialize)]
pub struct PostView {
    #[serde(flatten)]
    post: Post,
    state: PostState,
    reading_minutes: u32,
    /// For cards: the description, or the first words.
    summary: String,
    can_modify: bool,
    can_like: bool,
    html: Option<Value>,
    /// Where a search found it: the words around the matches (safe HTML).
    snippet: Option<Value>,
    /// Its first image, for link previews (on the post's page).
    image: Option<String>,
}

impl PostView {
    fn found(hit: super::search::Hit, viewer: Option<&User>) -> Self {
        Self {
            snippet: Some(Value::from_safe_string(hit.snippet)),
            ..Self::new(hit.post, viewer, false)
        }
    }

    pub fn new(post: Post, viewer: Option<&User>, with_html: bool) -> Self {
        Self {
            state: post.state(),
            reading_minutes: markdown::reading_minutes(&post.body),
            summary: post.summary(CARD_SUMMARY_CHARS),
            can_modify: viewer.is_some_and(|u| u.can_modify(post.author_id)),
            can_like: viewer.is_some_and(|u| super::SelfReaction::Refuse.permits(u, &post)),
            // Rendered when the post was written (`super::find` keeps it current).
            html: with_html
                .then(|| Value::from_safe_string(post.body_html.clone().unwrap_or_default())),
            snippet: None,
            image: with_html
                .then(|| markdown::first_image(post.body_html.as_deref().unwrap_or_default()))
                .flatten(),
            post,
        }
    }
}

#[derive(Deserialize, Default)]
struct ListQuery {
    page: Option<String>,
    view: Option<String>,
    /// What to search for (`/search`).
    q: Option<String>,
}

impl ListQuery {
    /// The 1-based page number; anything unreadable is the first page.
    fn page(&self) -> i64 {
        self.page
            .as_deref()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (1..=100_000).contains(p))
            .unwrap_or(1)
    }
}

#[derive(Serialize)]
struct Pagination {
    page: i64,
    pages: i64,
    total: i64,
}

async fn list_page(
    state: &App,
    viewer: &Viewer,
    listing: &Listing,
    query: &ListQuery,
) -> AppResult<(Vec<PostView>, Pagination)> {
    let page = query.page();
    let (posts, total) = super::list(
        &state.db,
        viewer.id(),
        listing,
        (page - 1) * PER_PAGE,
        PER_PAGE,
    )
    .await?;
    let views = posts
        .into_iter()
        .map(|p| PostView::new(p, viewer.user(), false))
        .collect();
    let pages = (total + PER_PAGE - 1) / PER_PAGE;
    Ok((
        views,
        Pagination {
            page,
            pages: pages.max(1),
            total,
        },
    ))
}

/// Blog mode: visitors see the owner's posts; members may switch to everyone's.
async fn home(
    State(state): State<App>,
    ctx: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let everyone = ctx.viewer.user().is_some() && q.view.as_deref() == Some("everyone");
    let listing = if everyone {
        Listing::default()
    } else {
        Listing {
            owner_only: true,
            ..Listing::default()
        }
    };
    let (posts, pagination) = list_page(&state, &ctx.viewer, &listing, &q).await?;
    // The tags of what the list shows: in blog mode, the owner's.
    let tags = super::popular_tags(&state.db, &listing, 20).await?;
    let fediverse = fediverse(&state, None, &state.settings.federation.blog_name).await?;
    let page = ctx.render(&state, "home.html", context! { posts => Serde(posts), pagination => Serde(pagination), everyone, tags => Serde(tags), fediverse });
    shared_listing(&state, &ctx, page).await
}

/// The address to follow the blog (`user` None) or an author by from
/// Mastodon, and how many do; none when federation is off. The followers
/// are the federation feature's table, counted here as a post's comments
/// are (federation builds on posts, so posts cannot call it).
async fn fediverse(state: &App, user: Option<i64>, name: &str) -> AppResult<Option<Value>> {
    if !state.settings.federation.enabled {
        return Ok(None);
    }
    let followers: i64 = crate::db::query(
        "SELECT COUNT(*) FROM followers
         WHERE COALESCE(user_id, 0) = COALESCE($1, 0) AND state = 'accepted'",
    )
    .bind(user)
    .scalar(&state.db)
    .await?;
    let address = format!("@{name}@{}", state.settings.http.public_authority());
    Ok(Some(context! { address, followers }))
}

async fn author(
    State(state): State<App>,
    ctx: Page,
    Path(username): Path<String>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let author = accounts::find_active_by_username(&state.db, &username)
        .await?
        .ok_or(AppError::NotFound(Thing::Profile))?;
    let (posts, pagination) = list_page(
        &state,
        &ctx.viewer,
        &Listing {
            author: Some(author.username.clone()),
            ..Listing::default()
        },
        &q,
    )
    .await?;
    let bio = author
        .bio
        .as_deref()
        .map(|bio| Value::from_safe_string(accounts::bio_html(bio)));
    let fediverse = fediverse(&state, Some(author.id), &author.username).await?;
    let page = ctx.render(&state, "author.html", context! { author => Serde(author), bio, posts => Serde(posts), pagination => Serde(pagination), fediverse });
    shared_listing(&state, &ctx, page).await
}

async fn tag(
    State(state): State<App>,
    ctx: Page,
    Path(tag): Path<String>,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let (posts, pagination) = list_page(
        &state,
        &ctx.viewer,
        &Listing {
            tag: Some(tag.clone()),
            ..Listing::default()
        },
        &q,
    )
    .await?;
    if pagination.total == 0 {
        return Err(AppError::NotFound(Thing::Page));
    }
    let page = ctx.render(
        &state,
        "tag.html",
        context! { tag, posts => Serde(posts), pagination => Serde(pagination) },
    );
    shared_listing(&state, &ctx, page).await
}

/// Posts matching a reader's words, best first, with the words around
/// each match; the form is in every page's header and works without
/// JavaScript.
async fn search(
    State(state): State<App>,
    ctx: Page,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let text = q.q.clone().unwrap_or_default();
    let page = q.page();
    let found = super::search::search(
        &state.db,
        ctx.viewer.id(),
        &Listing::default(),
        &text,
        (page - 1) * PER_PAGE,
        PER_PAGE,
    )
    .await?;
    let posts: Vec<PostView> = found
        .hits
        .into_iter()
        .map(|hit| PostView::found(hit, ctx.viewer.user()))
        .collect();
    let pagination = Pagination {
        page,
        pages: ((found.total + PER_PAGE - 1) / PER_PAGE).max(1),
        total: found.total,
    };
    let shown = ctx.render(
        &state,
        "search.html",
        context! {
            q => text.trim(),
            posts => Serde(posts),
            pagination => Serde(pagination),
            more => found.more,
            at_most => super::search::RANKED_AT_MOST,
        },
    );
    shared_listing(&state, &ctx, shown).await
}

/// A listing is the same for every anonymous reader, until the next
/// scheduled post goes live: served from the cache until then.
async fn shared_listing(state: &App, ctx: &Page, mut page: Response) -> AppResult<Response> {
    if ctx.viewer.user().is_none() {
        let shareable = super::shared_listing(&state.db).await?;
        page.extensions_mut().insert(shareable);
    }
    Ok(page)
}

async fn drafts(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let (posts, pagination) = list_page(
        &state,
        &ctx.viewer,
        &Listing {
            unpublished_of: Some(user.id),
            ..Listing::default()
        },
        &q,
    )
    .await?;
    Ok(ctx.render(
        &state,
        "drafts.html",
        context! { posts => Serde(posts), pagination => Serde(pagination) },
    ))
}

/// The editor form as submitted.
#[derive(Deserialize, Default, Serialize)]
struct EditorForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    tags: String,
    /// `YYYY-MM-DDTHH:MM` in [`Self::zone`], from a datetime-local field;
    /// empty for now.
    #[serde(default)]
    publish_at: String,
    /// The "Email this post to subscribers" box: present when ticked.
    #[serde(default)]
    email_subscribers: Option<String>,
    /// The author's zone, which `publish_at` is in ([`ReaderZone`]).
    #[serde(skip)]
    zone: Zone,
    /// Which button was pressed: `preview`, `draft` or `publish`; "Upload
    /// images" says so in the address instead ([`UploadQuery`]).
    #[serde(default)]
    action: String,
}

impl EditorForm {
    fn from_post(post: &Post, zone: Zone) -> Self {
        let publish_at = match post.state() {
            PostState::Scheduled => post
                .published_at
                .map(|at| zone.local_input(at))
                .unwrap_or_default(),
            _ => String::new(),
        };
        Self {
            title: post.title.clone(),
            description: post.description.clone(),
            body: post.body.clone(),
            tags: post.tags.join(", "),
            publish_at,
            email_subscribers: post.email_subscribers.then(|| "on".to_owned()),
            zone,
            action: String::new(),
        }
    }

    fn fields(&self) -> Result<PostFields, FieldErrors> {
        let publication = match self.action.as_str() {
            "draft" => Publication::Draft,
            _ if self.publish_at.trim().is_empty() => Publication::Publish,
            _ => Publication::PublishAt(self.zone.read_local_input(&self.publish_at).ok_or_else(
                || {
                    FieldErrors::single(
                        "publish_at",
                        Problem::Format("must be a date and time like 2026-12-24T18:00"),
                    )
                },
            )?),
        };
        Ok(PostFields {
            title: self.title.clone(),
            description: self.description.clone(),
            body: self.body.clone(),
            tags: split_tags(&self.tags),
            publication,
            description_required: false,
            email_subscribers: Some(self.email_subscribers.is_some()),
        })
    }

    async fn input(&self, app: &App) -> AppResult<PostInput> {
        PostInput::parse(app, &self.fields().map_err(AppError::Validation)?).await
    }
}

/// The editor, with `form` as typed; `added` images were just uploaded into
/// its body.
async fn render_editor(
    state: &App,
    ctx: &Page,
    mut status: StatusCode,
    form: &EditorForm,
    post: Option<&Post>,
    mut errors: Option<FieldErrors>,
    added: usize,
) -> AppResult<Response> {
    let mut preview = None;
    if form.action == "preview"
        && let Some(user) = ctx.viewer.user()
    {
        match super::preview(state, user, &form.body, Shape::Article).await? {
            Ok(html) => preview = Some(Value::from_safe_string(html)),
            Err(problem) => {
                errors = Some(FieldErrors::single("body", problem));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
        }
    }
    let suggestions = super::popular_tags(&state.db, &Listing::default(), 50).await?;
    // A post not yet published can be shown to others by a secret link.
    let shareable = post.is_some_and(|p| p.state() != PostState::Published);
    let preview_link = match post {
        Some(post) if shareable => match preview_links::token(state, post).await? {
            Some(token) => Some(shared_address(state, &token)?),
            None => None,
        },
        _ => None,
    };
    let post = post.map(|p| PostView::new(p.clone(), ctx.viewer.user(), false));
    Ok(ctx.render_status(
        state,
        status,
        "editor.html",
        context! { form => Serde(form), post => Serde(post), errors => Serde(errors), preview, suggestions => Serde(suggestions), added, shareable, preview_link, time_zone => form.zone.name() },
    ))
}

/// Where a preview token leads.
fn shared_address(state: &App, token: &str) -> AppResult<String> {
    Ok(state
        .settings
        .http
        .absolute(&format!("/p/{token}"))
        .map_err(|e| AppError::Internal(e.into()))?
        .to_string())
}

#[derive(Deserialize)]
struct PreviewLinkForm {
    /// `share` (a new link, replacing any) or `revoke`.
    action: String,
}

/// Makes or revokes a draft's preview link, from the editor.
async fn preview_link(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<PreviewLinkForm>,
) -> AppResult<Response> {
    let post = super::find_for_edit(&state, &slug, &user).await?;
    match form.action.as_str() {
        "revoke" => preview_links::revoke(&state, &post).await?,
        "share" => {
            preview_links::renew(&state, &post).await?;
        }
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown action {other:?}: expected share or revoke"
            )));
        }
    }
    Ok(see_other(&format!("/posts/{}/edit#share", post.slug)))
}

async fn new_post(
    State(state): State<App>,
    ctx: Page,
    SignedIn(_): SignedIn,
    ReaderZone(zone): ReaderZone,
) -> AppResult<Response> {
    render_editor(
        &state,
        &ctx,
        StatusCode::OK,
        &EditorForm {
            zone,
            ..EditorForm::default()
        },
        None,
        None,
        0,
    )
    .await
}

async fn create(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    ReaderZone(zone): ReaderZone,
    Query(query): Query<UploadQuery>,
    form: CsrfFormData,
) -> AppResult<Response> {
    submit(&state, &ctx, &user, zone, &query, form, None).await
}

/// The editor's form as posted: its images uploaded, or its other buttons'
/// work done (its files, if any were chosen, passed over).
async fn submit(
    state: &App,
    ctx: &Page,
    user: &User,
    zone: Zone,
    query: &UploadQuery,
    mut data: CsrfFormData,
    editing: Option<Post>,
) -> AppResult<Response> {
    if !query.wants_upload() {
        let form = EditorForm {
            zone,
            ..data.fields().await?
        };
        return save(state, ctx, user, &form, editing).await;
    }
    let (uploaded, refused) = FormUploads::take(state, user.id, &mut data).await?.settle();
    let mut form = EditorForm {
        zone,
        ..data.fields().await?
    };
    media::append_markdown(&mut form.body, &uploaded);
    let (status, errors) = media::upload_outcome(refused)?;
    render_editor(
        state,
        ctx,
        status,
        &form,
        editing.as_ref(),
        errors,
        uploaded.len(),
    )
    .await
}

/// The editor's buttons, for a new post or an edit: a preview, or a form
/// with errors, is shown again; otherwise the post is saved and shown.
async fn save(
    state: &App,
    ctx: &Page,
    user: &User,
    form: &EditorForm,
    editing: Option<Post>,
) -> AppResult<Response> {
    if form.action == "preview" {
        return render_editor(state, ctx, StatusCode::OK, form, editing.as_ref(), None, 0).await;
    }
    let input = match form.input(state).await {
        Ok(input) => input,
        Err(AppError::Validation(errors)) => {
            return render_editor(
                state,
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                form,
                editing.as_ref(),
                Some(errors),
                0,
            )
            .await;
        }
        Err(e) => return Err(e),
    };
    let post = match editing {
        None => super::create(state, user, &input).await?,
        Some(post) => super::update(state, user, &post, &input).await?,
    };
    Ok(see_other(&format!("/posts/{}", post.slug)))
}

async fn edit(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    ReaderZone(zone): ReaderZone,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let post = super::find_for_edit(&state, &slug, &user).await?;
    render_editor(
        &state,
        &ctx,
        StatusCode::OK,
        &EditorForm::from_post(&post, zone),
        Some(&post),
        None,
        0,
    )
    .await
}

async fn update(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    ReaderZone(zone): ReaderZone,
    Path(slug): Path<String>,
    Query(query): Query<UploadQuery>,
    form: CsrfFormData,
) -> AppResult<Response> {
    let post = super::find_for_edit(&state, &slug, &user).await?;
    submit(&state, &ctx, &user, zone, &query, form, Some(post)).await
}

async fn confirm_delete(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let post = super::find_for_edit(&state, &slug, &user).await?;
    let post = PostView::new(post, Some(&user), false);
    Ok(ctx.render(
        &state,
        "confirm_delete.html",
        context! { post => Serde(post) },
    ))
}

async fn delete(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let post = super::find_for_edit(&state, &slug, &user).await?;
    super::delete(&state.db, &user, &post).await?;
    Ok(see_other("/"))
}

#[derive(Deserialize)]
struct PreviewForm {
    #[serde(default)]
    body: String,
}

/// Rendered Markdown for the editor's live preview (an HTML fragment), or
/// what is wrong with it as text, which the editor shows instead.
async fn preview(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<PreviewForm>,
) -> AppResult<Response> {
    Ok(
        match super::preview(&state, &user, &form.body, Shape::Article).await? {
            Ok(html) => Html(html).into_response(),
            // As HTML, so the error page does not replace it: the words alone.
            Err(problem) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(format!("The text {problem}.")),
            )
                .into_response(),
        },
    )
}
