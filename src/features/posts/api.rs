//! `/api/articles` and `/api/tags`: the RealWorld article routes over posts.
//! An article is a post, a favorite is a like.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Listing, Post, PostFields, PostInput, Publication, SelfReaction};
use crate::app::App;
use crate::error::{FieldErrors, Problem};
use crate::features::accounts::api::ProfileJson;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(feed))
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(favorite, unfavorite))
        .routes(routes!(tags))
}
use crate::features::accounts::extract::{ApiUser, MaybeApiUser};
use crate::http::api::{ApiError, ApiJson, ApiQuery};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleJson {
    slug: String,
    title: String,
    description: String,
    /// Left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    tag_list: Vec<String>,
    /// RFC 3339 with milliseconds.
    created_at: String,
    updated_at: String,
    favorited: bool,
    favorites_count: i64,
    author: ProfileJson,
}

impl ArticleJson {
    fn new(post: Post, with_body: bool) -> Self {
        let author = post.author.name().to_owned();
        Self {
            body: with_body.then_some(post.body),
            slug: post.slug,
            title: post.title,
            description: post.description,
            tag_list: post.tags,
            created_at: post.created_at.iso_millis(),
            updated_at: post.updated_at.iso_millis(),
            favorited: post.liked,
            favorites_count: post.likes,
            author: ProfileJson {
                username: author,
                bio: None,
                image: post.author.image,
                following: post.following_author,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ArticleResponse {
    article: ArticleJson,
}

fn article(post: Post) -> Json<ArticleResponse> {
    Json(ArticleResponse {
        article: ArticleJson::new(post, true),
    })
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesResponse {
    articles: Vec<ArticleJson>,
    /// How many articles match in all, across every page.
    articles_count: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only articles with this tag.
    tag: Option<String>,
    /// Only articles by this username.
    author: Option<String>,
    /// Only articles favorited by this username.
    favorited: Option<String>,
    /// Only articles matching this search, best match first: words (all
    /// must match), "a phrase", -word to leave out, `or` between
    /// alternatives; anything else is text, never an error. Past 1,000
    /// matches, the newest 1,000 come, newest first (`articlesCount` is
    /// then 1000).
    q: Option<String>,
    /// At most this many (default 20, at most 100).
    limit: Option<i64>,
    /// Skip this many (default 0).
    offset: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    limit: Option<i64>,
    offset: Option<i64>,
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(20);
    let offset = offset.unwrap_or(0);
    let mut errors = FieldErrors::new();
    if !(1..=100).contains(&limit) {
        errors.add("limit", Problem::Format("must be between 1 and 100"));
    }
    if offset < 0 {
        errors.add("offset", Problem::Format("must not be negative"));
    }
    errors.into_result()?;
    Ok((limit, offset))
}

async fn list_articles(
    state: &App,
    viewer: Option<i64>,
    listing: Listing,
    (limit, offset): (i64, i64),
) -> Result<Json<ArticlesResponse>, ApiError> {
    let (posts, total) = super::list(&state.db, viewer, &listing, offset, limit).await?;
    Ok(Json(ArticlesResponse {
        articles: posts
            .into_iter()
            .map(|p| ArticleJson::new(p, false))
            .collect(),
        articles_count: total,
    }))
}

/// Published articles by every author, newest first (with `q`, best match
/// first). Blog mode shapes the
/// site's home page, not what is public: every published post is already
/// public on its author's and tags' pages, and API clients (the RealWorld
/// frontends, its conformance suite) expect the global list. Drafts and
/// scheduled posts never appear.
#[utoipa::path(get, path = "/articles", tag = "Articles", params(ListParams),
    responses((status = 200, body = ArticlesResponse), (status = 422, description = "Bad limit or offset")))]
pub async fn list(
    State(state): State<App>,
    caller: MaybeApiUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let (limit, offset) = page(params.limit, params.offset)?;
    let listing = Listing {
        author: params.author,
        tag: params.tag,
        liked_by: params.favorited,
        ..Listing::default()
    };
    let Some(q) = params.q else {
        return list_articles(&state, caller.id(), listing, (limit, offset)).await;
    };
    let found = super::search::search(&state.db, caller.id(), &listing, &q, offset, limit).await?;
    Ok(Json(ArticlesResponse {
        articles: found
            .hits
            .into_iter()
            .map(|hit| ArticleJson::new(hit.post, false))
            .collect(),
        articles_count: found.total,
    }))
}

/// Articles by the authors the caller follows, newest first.
#[utoipa::path(get, path = "/articles/feed", tag = "Articles", params(PageParams),
    security(("Token" = [])),
    responses((status = 200, body = ArticlesResponse), (status = 401, description = "No or bad token")))]
pub async fn feed(
    State(state): State<App>,
    caller: ApiUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<ArticlesResponse>, ApiError> {
    let page = page(params.limit, params.offset)?;
    let listing = Listing {
        followed_by: Some(caller.user.id),
        ..Listing::default()
    };
    list_articles(&state, Some(caller.user.id), listing, page).await
}

#[derive(Deserialize, ToSchema)]
pub struct NewArticleRequest {
    article: NewArticle,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NewArticle {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    tag_list: Option<Vec<String>>,
    /// Quire's own: email the article to the newsletter's subscribers as
    /// it is published (default false).
    #[serde(default)]
    email_subscribers: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateArticleRequest {
    article: UpdateArticle,
}

/// Absent fields stay as they are; `null` is refused (send `[]` to remove
/// every tag).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UpdateArticle {
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    body: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<Vec<String>>)]
    tag_list: Option<Option<Vec<String>>>,
}

/// Publish an article.
#[utoipa::path(post, path = "/articles", tag = "Articles", request_body = NewArticleRequest,
    security(("Token" = [])),
    responses((status = 201, body = ArticleResponse), (status = 401, description = "No or bad token"), (status = 422, description = "Invalid fields")))]
pub async fn create(
    State(state): State<App>,
    caller: ApiUser,
    ApiJson(request): ApiJson<NewArticleRequest>,
) -> Result<(StatusCode, Json<ArticleResponse>), ApiError> {
    let a = request.article;
    let input = PostInput::parse(
        &state,
        &PostFields {
            title: a.title.unwrap_or_default(),
            description: a.description.unwrap_or_default(),
            body: a.body.unwrap_or_default(),
            tags: a.tag_list.unwrap_or_default(),
            publication: Publication::Publish,
            description_required: true,
            email_subscribers: a.email_subscribers,
        },
    )
    .await?;
    let post = super::create(&state, &caller.user, &input).await?;
    Ok((StatusCode::CREATED, article(post)))
}

/// One article.
#[utoipa::path(get, path = "/articles/{slug}", tag = "Articles", params(("slug" = String, Path)),
    responses((status = 200, body = ArticleResponse), (status = 404, description = "No such article")))]
pub async fn get(
    State(state): State<App>,
    caller: MaybeApiUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    Ok(article(super::find(&state, &slug, caller.id()).await?))
}

/// Change an article's title, description, body or tags; the slug stays.
#[utoipa::path(put, path = "/articles/{slug}", tag = "Articles", params(("slug" = String, Path)),
    request_body = UpdateArticleRequest, security(("Token" = [])),
    responses((status = 200, body = ArticleResponse), (status = 401, description = "No or bad token"), (status = 403, description = "Not the author"), (status = 404, description = "No such article"), (status = 422, description = "Invalid fields")))]
pub async fn update(
    State(state): State<App>,
    caller: ApiUser,
    Path(slug): Path<String>,
    ApiJson(request): ApiJson<UpdateArticleRequest>,
) -> Result<Json<ArticleResponse>, ApiError> {
    let post = super::find_for_edit(&state, &slug, &caller.user).await?;
    let a = request.article;
    let mut errors = FieldErrors::new();
    // `Some(None)`: sent as null, which no field accepts.
    let mut keep = |field: &'static str, sent: Option<Option<String>>, current: &str| match sent {
        Some(Some(value)) => value,
        Some(None) => {
            errors.add(field, Problem::Blank);
            String::new()
        }
        None => current.to_owned(),
    };
    let title = keep("title", a.title, &post.title);
    let description = keep("description", a.description, &post.description);
    let body = keep("body", a.body, &post.body);
    let tags = match a.tag_list {
        Some(Some(tags)) => tags,
        Some(None) => {
            errors.add(
                "tagList",
                Problem::Format("must be a list; send [] to remove every tag"),
            );
            Vec::new()
        }
        None => post.tags.clone(),
    };
    errors.into_result()?;
    let input = PostInput::parse(
        &state,
        &PostFields {
            title,
            description,
            body,
            tags,
            publication: Publication::Unchanged,
            // Required when publishing through the API, but a post written on
            // the site without one can still be edited here.
            description_required: false,
            email_subscribers: None,
        },
    )
    .await?;

    Ok(article(
        super::update(&state, &caller.user, &post, &input).await?,
    ))
}

/// Delete an article, its comments and its favorites.
#[utoipa::path(delete, path = "/articles/{slug}", tag = "Articles", params(("slug" = String, Path)),
    security(("Token" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No or bad token"), (status = 403, description = "Not the author"), (status = 404, description = "No such article")))]
pub async fn delete(
    State(state): State<App>,
    caller: ApiUser,
    Path(slug): Path<String>,
) -> Result<StatusCode, ApiError> {
    let post = super::find_for_edit(&state, &slug, &caller.user).await?;
    super::delete(&state.db, &caller.user, &post).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Favorite an article.
#[utoipa::path(post, path = "/articles/{slug}/favorite", tag = "Favorites", params(("slug" = String, Path)),
    security(("Token" = [])),
    responses((status = 200, body = ArticleResponse), (status = 401, description = "No or bad token"), (status = 404, description = "No such article")))]
pub async fn favorite(
    State(state): State<App>,
    caller: ApiUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &caller, &slug, true).await
}

/// Take a favorite back.
#[utoipa::path(delete, path = "/articles/{slug}/favorite", tag = "Favorites", params(("slug" = String, Path)),
    security(("Token" = [])),
    responses((status = 200, body = ArticleResponse), (status = 401, description = "No or bad token"), (status = 404, description = "No such article")))]
pub async fn unfavorite(
    State(state): State<App>,
    caller: ApiUser,
    Path(slug): Path<String>,
) -> Result<Json<ArticleResponse>, ApiError> {
    set_favorite(&state, &caller, &slug, false).await
}

/// Favorites an article or takes the favorite back, then answers with the
/// article as the caller now sees it. The API lets authors favorite their
/// own articles.
async fn set_favorite(
    state: &App,
    caller: &ApiUser,
    slug: &str,
    favorite: bool,
) -> Result<Json<ArticleResponse>, ApiError> {
    let post = super::find(state, slug, Some(caller.user.id)).await?;
    if favorite {
        super::react(&state.db, &caller.user, &post, SelfReaction::Allow).await?;
    } else {
        super::unreact(&state.db, &caller.user, &post).await?;
    }
    Ok(article(
        super::find(state, slug, Some(caller.user.id)).await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct TagsResponse {
    tags: Vec<String>,
}

/// Tags in use on published articles, most used first.
#[utoipa::path(get, path = "/tags", tag = "Tags", responses((status = 200, body = TagsResponse)))]
pub async fn tags(State(state): State<App>) -> Result<Json<TagsResponse>, ApiError> {
    Ok(Json(TagsResponse {
        tags: super::popular_tags(&state.db, &Listing::default(), 1000).await?,
    }))
}
