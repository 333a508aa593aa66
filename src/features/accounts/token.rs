//! API tokens: JWTs signed with the site secret whose subject is a row of
//! the `sessions` table. The browser's session and the API's token are two
//! doors into the same accounts, and are ended the same way: deleting the
//! account or changing the password removes the rows, and with them every
//! token but the one that made the change.
//!
//! A JWT here is only ever HS256 (HMAC-SHA256 over `header.payload` with
//! the site's key), made and checked with `crypto::sign`/`verify`: the
//! `jsonwebtoken` crate brought RSA and elliptic-curve code the site never
//! uses, a sixth of what kept the binary over its size (docs/decisions.md).
//! Its tests hold these tokens to that crate's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    let jwt = encode(secret, &claims)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("signing a token: {e}")))?;
    Ok(Token { jwt, session_id })
}

/// The user a token stands for. A bad signature, an expired token, a
/// removed session row or a deleted account are all `Unauthorized`.
pub async fn authenticate(db: &Db, secret: &SecretKey, jwt: &str) -> AppResult<(User, Token)> {
    let claims = decode(secret, jwt, Timestamp::now()).ok_or(AppError::Unauthorized)?;
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

/// The header of every token: the one algorithm there is.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn encode(secret: &SecretKey, claims: &Claims) -> serde_json::Result<String> {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let signature = crate::crypto::sign(secret, &signed);
    Ok(format!("{signed}.{signature}"))
}

/// The claims of a token this site signed (HS256 only: `none` and every
/// other algorithm are refused) that has not expired at `now`.
fn decode(secret: &SecretKey, jwt: &str, now: Timestamp) -> Option<Claims> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let (signed, signature) = jwt.rsplit_once('.')?;
    let (header, payload) = signed.split_once('.')?;
    if payload.contains('.') || !crate::crypto::verify(secret, signed, signature) {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "HS256" {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.exp > now.unix_timestamp()).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretKey {
        "a test key that is long enough for the site, 0123456789"
            .parse()
            .unwrap()
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sid: "api-abc".into(),
            sub: "7".into(),
            iat: 1,
            exp,
        }
    }

    #[test]
    fn tokens_are_standard_hs256_jwts_both_ways() {
        let now = Timestamp::now();
        let exp = now.unix_timestamp() + 60;
        let key = secret();
        let ours = encode(&key, &claims(exp)).unwrap();
        let theirs = jsonwebtoken::decode::<serde_json::Value>(
            &ours,
            &jsonwebtoken::DecodingKey::from_secret(key.expose()),
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
        )
        .expect("jsonwebtoken reads ours");
        assert_eq!(theirs.claims["sid"], "api-abc");
        let made = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims(exp),
            &jsonwebtoken::EncodingKey::from_secret(key.expose()),
        )
        .unwrap();
        assert_eq!(
            decode(&key, &made, now).unwrap().sid,
            "api-abc",
            "we read theirs"
        );
    }

    #[test]
    fn forged_altered_expired_and_unsigned_tokens_are_refused() {
        let now = Timestamp::now();
        let key = secret();
        let good = encode(&key, &claims(now.unix_timestamp() + 60)).unwrap();
        assert!(decode(&key, &good, now).is_some());
        let other: SecretKey = "another key, just as long as the site needs, 0123456789"
            .parse()
            .unwrap();
        assert!(decode(&other, &good, now).is_none(), "another site's key");
        let expired = encode(&key, &claims(now.unix_timestamp())).unwrap();
        assert!(decode(&key, &expired, now).is_none());
        // The payload changed (a longer life), the signature kept.
        let parts: Vec<&str> = good.split('.').collect();
        let longer = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(now.unix_timestamp() + 10_000)).unwrap());
        assert!(decode(&key, &format!("{}.{longer}.{}", parts[0], parts[2]), now).is_none());
        // alg "none", with or without a signature.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(decode(&key, &format!("{none}.{}.", parts[1]), now).is_none());
        // Signed by us, but claiming another algorithm.
        let other_alg = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
        let signed = format!("{other_alg}.{}", parts[1]);
        let signature = crate::crypto::sign(&key, &signed);
        assert!(decode(&key, &format!("{signed}.{signature}"), now).is_none());
        for nonsense in [
            "",
            ".",
            "..",
            "a.b.c",
            &format!("{good}.extra"),
            "only-one-part",
        ] {
            assert!(decode(&key, nonsense, now).is_none(), "{nonsense:?}");
        }
    }
}
