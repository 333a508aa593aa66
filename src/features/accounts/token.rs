//! API tokens: JWTs signed with the site secret whose subject is a row of
//! the `sessions` table. The browser's session and the API's token are two
//! doors into the same accounts, and are ended the same way: deleting the
//! account or changing the password removes the rows, and with them every
//! token but the one that made the change.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::Duration;

use super::User;
use crate::config::SecretKey;
use crate::db::{Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult};

/// How long a token works.
pub const LIFETIME: Duration = Duration::days(30);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The session row behind the token.
    sid: String,
    /// The user's id, for readers of the token; the row is what counts.
    sub: String,
    iat: i64,
    exp: i64,
}

/// A token and the session row it stands for.
#[derive(Debug, Clone)]
pub struct Token {
    pub jwt: String,
    pub session_id: String,
}

/// Issues a token for a user, backed by a new session row.
pub async fn issue(db: &Db, secret: &SecretKey, user: &User) -> AppResult<Token> {
    let now = Timestamp::now();
    let expires = now + LIFETIME;
    let session_id = format!("api-{}", crate::crypto::random_token(24));
    let data = serde_json::json!({ super::session_store::USER_ID_KEY: user.id }).to_string();
    query("INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&session_id)
        .bind(user.id)
        .bind(&data)
        .bind(expires)
        .execute(db)
        .await?;
    let claims = Claims {
        sid: session_id.clone(),
        sub: user.id.to_string(),
        iat: now.unix_timestamp(),
        exp: expires.unix_timestamp(),
    };
    let jwt = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose()),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))?;
    Ok(Token { jwt, session_id })
}

/// The user a token stands for. A bad signature, an expired token, a
/// removed session row or a deleted account are all `Unauthorized`.
pub async fn authenticate(db: &Db, secret: &SecretKey, jwt: &str) -> AppResult<(User, Token)> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    let claims = decode::<Claims>(jwt, &DecodingKey::from_secret(secret.expose()), &validation)
        .map_err(|_| AppError::Unauthorized)?
        .claims;
    let sql = format!(
        "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.expires_at > $2 AND u.deleted_at IS NULL",
        super::user_columns_of_u()
    );
    let user: Option<User> = Query::assembled(sql)
        .bind(&claims.sid)
        .bind(Timestamp::now())
        .fetch_optional(db)
        .await?;
    let user = user.ok_or(AppError::Unauthorized)?;
    Ok((
        user,
        Token {
            jwt: jwt.to_owned(),
            session_id: claims.sid,
        },
    ))
}
