//! Who is making a request, as far as the platform needs to know: set by
//! the feature that authenticates (accounts), read by the page layer (to
//! show who is signed in), the maintenance gate (administrators pass) and
//! the request log (the user id).

use axum::extract::Request;

#[derive(Clone, Debug)]
pub struct Caller {
    pub id: i64,
    /// Passes maintenance mode.
    pub admin: bool,
    /// How page templates show them (`page.user`).
    pub shown: minijinja::Value,
    /// The anti-forgery token bound to the session they signed in with
    /// (none for API tokens, which forms do not use). Forms then need
    /// this token and not merely the cookie's, so a cookie planted in the
    /// browser (by a sibling subdomain, say) cannot forge their posts.
    pub form_token: Option<String>,
}

impl Caller {
    /// Records the caller on the request and in its log line.
    pub fn note(request: &mut Request, caller: Caller) {
        super::logging::note_user(request.extensions(), caller.id);
        request.extensions_mut().insert(caller);
    }

    pub fn of(extensions: &axum::http::Extensions) -> Option<&Caller> {
        extensions.get::<Caller>()
    }
}
