//! A page at `/{slug}`, the administrators' pages under `/admin/pages`
//! (list, write, delete, reorder: all plain forms, no script needed), and
//! the layer that gives every page the header's links.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{Direction, Page, PageFields, PageInput};
use crate::app::App;
use crate::error::{AppResult, FieldErrors};
use crate::features::accounts::User;
use crate::features::accounts::extract::Admin;
use crate::features::posts;
use crate::http::extract::{CsrfForm, NoFields};
use crate::http::pages::{PageCtx, see_other};
use crate::markdown;
use crate::page_cache::Shareable;
use crate::templates::path_segment;

pub fn routes() -> Router<App> {
    // `/{slug}` comes after every fixed route of the site, whatever the
    // order of merging: the router prefers fixed segments to captures.
    Router::new()
        .route("/{slug}", get(show))
        .route("/admin/pages", get(index))
        .route("/admin/pages/new", get(new_page).post(create))
        .route("/admin/pages/{id}/edit", get(edit).post(update))
        .route("/admin/pages/{id}/delete", get(confirm_delete).post(delete))
        .route("/admin/pages/{id}/move", post(move_page))
}

/// The site's layer: puts the header's links into every request, for the
/// page layer (`http::nav`). Should the database not answer, pages are
/// shown without them rather than not at all, and are not kept for other
/// readers.
pub async fn load_nav(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let nav = super::nav(&app).await;
    if let Err(e) = &nav {
        tracing::warn!(error = %e, "the pages of the navigation could not be read");
    }
    let found = nav.is_ok();
    request.extensions_mut().insert(nav.unwrap_or_default());
    let mut response = next.run(request).await;
    if !found {
        response.extensions_mut().remove::<Shareable>();
    }
    response
}

async fn show(
    State(state): State<App>,
    ctx: PageCtx,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let page = super::find(&state, &slug).await?;
    let html = page.body_html.clone().unwrap_or_default();
    let mut response = ctx.render(
        &state,
        "page.html",
        context! {
            site_page => Serde(&page),
            // As long as a post's: what search engines show of a page.
            description => markdown::excerpt(&html, posts::web::CARD_SUMMARY_CHARS),
            image => markdown::first_image(&html),
            // Rendered when the page was written (`super::find` keeps it current).
            html => Value::from_safe_string(html),
            can_manage => ctx.caller.as_ref().is_some_and(|c| c.admin),
        },
    );
    // The same for every anonymous reader: served from the cache.
    if ctx.caller.is_none() {
        response.extensions_mut().insert(Shareable::default());
    }
    Ok(response)
}

async fn index(State(state): State<App>, ctx: PageCtx, Admin(_): Admin) -> AppResult<Response> {
    let pages = super::list(&state.db).await?;
    Ok(ctx.render(
        &state,
        "admin_pages.html",
        context! { pages => Serde(pages) },
    ))
}

const PAGE_EDITOR: &str = "page_editor.html";

/// The form as submitted.
#[derive(Deserialize, Default, Serialize)]
struct PageForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    body: String,
    /// Which button was pressed: `preview` or `save`.
    #[serde(default)]
    action: String,
}

impl PageForm {
    fn from_page(page: &Page) -> Self {
        Self {
            title: page.title.clone(),
            slug: page.slug.clone(),
            body: page.body.clone(),
            action: String::new(),
        }
    }

    fn fields(&self) -> PageFields {
        PageFields {
            title: self.title.clone(),
            slug: self.slug.clone(),
            body: self.body.clone(),
        }
    }
}

/// The form's page: `form` as typed, for a new page or `editing` one.
fn form_context(
    form: &PageForm,
    editing: Option<&Page>,
    errors: Option<FieldErrors>,
    preview: Option<Value>,
) -> Value {
    context! {
        form => Serde(form),
        site_page => Serde(editing),
        errors => Serde(errors),
        preview,
    }
}

/// The form, with a preview when that was asked for (within the writer's
/// budget, as the post editor's).
async fn render_form(
    state: &App,
    ctx: &PageCtx,
    user: &User,
    form: &PageForm,
    editing: Option<&Page>,
) -> AppResult<Response> {
    let (mut status, mut errors, mut preview) = (StatusCode::OK, None, None);
    if form.action == "preview" {
        match posts::preview(state, user, &form.body, crate::markdown::Shape::Article).await? {
            Ok(html) => preview = Some(Value::from_safe_string(html)),
            Err(problem) => {
                errors = Some(FieldErrors::single("body", problem));
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
        }
    }
    Ok(ctx.render_status(
        state,
        status,
        PAGE_EDITOR,
        form_context(form, editing, errors, preview),
    ))
}

async fn new_page(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
) -> AppResult<Response> {
    render_form(&state, &ctx, &user, &PageForm::default(), None).await
}

async fn create(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    CsrfForm(form): CsrfForm<PageForm>,
) -> AppResult<Response> {
    save(&state, &ctx, &user, &form, None).await
}

async fn edit(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let page = super::find_for_edit(&state.db, &user, id).await?;
    let form = PageForm::from_page(&page);
    render_form(&state, &ctx, &user, &form, Some(&page)).await
}

async fn update(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<PageForm>,
) -> AppResult<Response> {
    let page = super::find_for_edit(&state.db, &user, id).await?;
    save(&state, &ctx, &user, &form, Some(page)).await
}

/// The form's buttons, for a new page or an edit: a preview, or a form
/// with errors (a taken address among them), is shown again; otherwise the
/// page is saved and shown.
async fn save(
    state: &App,
    ctx: &PageCtx,
    user: &User,
    form: &PageForm,
    editing: Option<Page>,
) -> AppResult<Response> {
    if form.action == "preview" {
        return render_form(state, ctx, user, form, editing.as_ref()).await;
    }
    match write(state, user, form, editing.as_ref()).await {
        Ok(page) => Ok(see_other(&format!("/{}", path_segment(&page.slug)))),
        Err(e) => ctx.form_again(state, PAGE_EDITOR, e, |errors| {
            form_context(form, editing.as_ref(), Some(errors), None)
        }),
    }
}

async fn write(
    state: &App,
    user: &User,
    form: &PageForm,
    editing: Option<&Page>,
) -> AppResult<Page> {
    let input = PageInput::parse(state, &form.fields()).await?;
    match editing {
        None => super::create(state, user, &input).await,
        Some(page) => super::update(state, user, page, &input).await,
    }
}

async fn confirm_delete(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let page = super::find_for_edit(&state.db, &user, id).await?;
    Ok(ctx.render(
        &state,
        "page_delete.html",
        context! { site_page => Serde(page) },
    ))
}

async fn delete(
    State(state): State<App>,
    Admin(user): Admin,
    Path(id): Path<i64>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let page = super::find_for_edit(&state.db, &user, id).await?;
    super::delete(&state.db, &user, &page).await?;
    Ok(see_other("/admin/pages"))
}

#[derive(Deserialize)]
struct MoveForm {
    direction: Direction,
}

/// "Move up" and "Move down": back to the list, in its new order.
async fn move_page(
    State(state): State<App>,
    Admin(user): Admin,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> AppResult<Response> {
    let page = super::find_for_edit(&state.db, &user, id).await?;
    super::move_page(&state.db, &user, &page, form.direction).await?;
    Ok(see_other(&format!("/admin/pages#page-{id}")))
}
