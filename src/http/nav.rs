//! The links every page's header shows after the site's name: set on the
//! request by the feature that keeps them (the owner's standalone pages),
//! read by the page layer (`page.nav` in templates), which names no
//! feature.

use std::sync::Arc;

use axum::http::Extensions;
use serde::Serialize;

/// The header's links, in their order; cheap to clone, as every request
/// takes a copy.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Nav(pub Arc<[NavLink]>);

#[derive(Clone, Debug, Serialize)]
pub struct NavLink {
    pub title: String,
    /// A path on this site, percent-encoded.
    pub href: String,
}

impl Nav {
    /// The links set on a request; none when nothing set them.
    pub fn of(extensions: &Extensions) -> Nav {
        extensions.get::<Nav>().cloned().unwrap_or_default()
    }
}
