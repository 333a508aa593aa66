//! The newsletter: readers subscribe by email — to every post of the site,
//! or to an author's — confirm from the email they get (double opt-in),
//! and each post its author chose to email reaches them once, through
//! whatever SMTP server the site sends with (`QUIRE_SMTP_URL`): no
//! provider's API. docs/newsletter.md says what is sent and kept.
//!
//! - [`subscribers`]: asking, confirming, choosing, leaving; signed links;
//! - [`sending`]: a post emailed, its recipients written down first, sent
//!   in paced batches by jobs that resume where a dead worker stopped;
//! - [`web`]: the form and the pages of the emails' links; [`api`]: the
//!   same request in the JSON API;
//! - [`admin`]: the owner's view: subscribers, sends, import and export.
//!
//! No tracking: no pixels, no rewritten links (the form says so).
//! Addresses are personal data: in archives and backups, never in logs.

pub mod admin;
pub mod api;
pub mod sending;
pub mod subscribers;
pub mod web;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::AppResult;
use crate::http::limit::RateLimit;

/// Subscribe requests per client address: a few at once, then one a
/// minute (each may send a confirmation email).
#[derive(Clone)]
pub struct Budget(Option<Arc<RateLimit>>);

impl Budget {
    pub fn new(on: bool) -> Self {
        Self(on.then(|| Arc::new(RateLimit::new(5, Duration::from_secs(60)))))
    }

    pub fn check(&self, client: IpAddr) -> AppResult<()> {
        match &self.0 {
            Some(limit) => limit.check(crate::features::accounts::address_key(client)),
            None => Ok(()),
        }
    }
}
