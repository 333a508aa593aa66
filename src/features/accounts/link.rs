//! The secrets in links emailed to an address (a password reset, a
//! registration to confirm): 32 random bytes each. Only their SHA-256 is
//! stored, so a copy of the database opens no account.

use sha2::{Digest, Sha256};

/// A new link's secret, for the URL.
pub(super) fn new_token() -> String {
    crate::crypto::random_token(32)
}

/// What is stored of a link's secret, and looked up when it is followed.
pub(super) fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}
