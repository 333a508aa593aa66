//! Known devices: a browser that signed in to an account keeps a signed
//! cookie naming the account, and its sign-ins to that account are not
//! delayed by failures made elsewhere, so nobody can keep the owner out by
//! failing on purpose (`backoff::known_device_key`).
//!
//! The cookie is `ID.SIGNATURE`, an HMAC of the id with the site key: it
//! stores nothing on the server and cannot be made for another account.
//! It names the last account signed in on the browser; it proves nothing
//! but that the browser once had the password, and still needs it.

use axum::http::{HeaderMap, HeaderValue};

use crate::app::App;
use crate::config::SecretKey;

const COOKIE: &str = "quire_device";

/// A year: a device stays known as long as the browser keeps cookies.
const MAX_AGE_SECS: u64 = 365 * 24 * 3600;

fn message(user_id: i64) -> String {
    format!("known-device:{user_id}")
}

/// The account this request's browser has signed in to before, if its
/// cookie is genuine.
pub fn known_account(headers: &HeaderMap, secret: &SecretKey) -> Option<i64> {
    let value = crate::http::pages::cookie(headers, COOKIE)?;
    let (id, signature) = value.split_once('.')?;
    let id: i64 = id.parse().ok()?;
    crate::crypto::verify(secret, &message(id), signature).then_some(id)
}

/// The `Set-Cookie` that makes this browser a known device of the account.
pub fn cookie(app: &App, user_id: i64) -> HeaderValue {
    let signature = crate::crypto::sign(app.secret(), &message(user_id));
    let secure = if app.settings.http.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={user_id}.{signature}; Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE_SECS}{secure}"
    ))
    .expect("digits and URL-safe base64 make a header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let cookie = format!("quire_csrf=x; {COOKIE}={value}");
        headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        headers
    }

    #[test]
    fn only_a_cookie_signed_for_its_account_names_it() {
        let secret: SecretKey = "a-site-key-that-is-long-enough-0123456789".parse().unwrap();
        let signature = crate::crypto::sign(&secret, &message(7));
        assert_eq!(
            known_account(&with_cookie(&format!("7.{signature}")), &secret),
            Some(7)
        );
        // Another account's id with this signature, a forged one, a key
        // other than the site's: strangers.
        assert_eq!(
            known_account(&with_cookie(&format!("8.{signature}")), &secret),
            None
        );
        assert_eq!(known_account(&with_cookie("7.AAAA"), &secret), None);
        let other: SecretKey = "another-key-that-is-long-enough-0123456789"
            .parse()
            .unwrap();
        assert_eq!(
            known_account(&with_cookie(&format!("7.{signature}")), &other),
            None
        );
        assert_eq!(known_account(&HeaderMap::new(), &secret), None);
    }
}
