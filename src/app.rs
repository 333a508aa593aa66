//! The application as every handler and job sees it: built once
//! (`App::build`, in `assembly`), cheap to clone, shared by the web server
//! and the job worker of a process.
//!
//! `App` holds the platform's parts by name. A feature that keeps state of
//! its own for the life of the process (the visit recorder) puts it in
//! [`App::part`] when the app is assembled, so this module names no feature.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::Extensions;
use object_store::ObjectStore;

use crate::config::{SecretKey, Settings};
use crate::db::Db;
use crate::mail::Mailer;
use crate::maintenance;
use crate::page_cache::PageCache;
use crate::templates::Templates;

/// Cloned for every request by each layer that holds it, so a clone is one
/// reference count: with a count per part, dropping the clones was a tenth
/// of the time of serving a cached page (counts bouncing between cores).
#[derive(Clone)]
pub struct App(Arc<AppParts>);

/// What an [`App`] holds; its fields read through the `App` (`app.db`).
pub struct AppParts {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub templates: Arc<Templates>,
    pub mailer: Arc<Mailer>,
    /// The site's files (`settings.storage`).
    pub storage: Arc<dyn ObjectStore>,
    pub lifecycle: Arc<Lifecycle>,
    pub maintenance: Arc<maintenance::Switch>,
    /// Pages as anonymous readers see them.
    pub pages: Arc<PageCache>,
    parts: Extensions,
}

impl std::ops::Deref for App {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of an [`App`] that features own, collected before it is built.
#[derive(Default)]
pub struct Parts(Extensions);

impl Parts {
    pub fn insert<T: Clone + Send + Sync + 'static>(&mut self, part: T) {
        self.0.insert(part);
    }
}

impl App {
    /// Puts the parts together; `App::build` decides what they are.
    pub fn new(
        db: Db,
        settings: Arc<Settings>,
        templates: Arc<Templates>,
        mailer: Mailer,
        storage: Arc<dyn ObjectStore>,
        parts: Parts,
    ) -> Self {
        Self(Arc::new(AppParts {
            db,
            settings,
            templates,
            mailer: Arc::new(mailer),
            storage,
            lifecycle: Default::default(),
            maintenance: Default::default(),
            pages: Default::default(),
            parts: parts.0,
        }))
    }

    /// The site's secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.settings.secret.key
    }

    /// A feature's own part. Every part is put in by `App::build`, so a
    /// missing one is a bug in the assembly, found by any test of that
    /// feature.
    pub fn part<T: Send + Sync + 'static>(&self) -> &T {
        self.parts
            .get::<T>()
            .unwrap_or_else(|| panic!("App::build did not install {}", std::any::type_name::<T>()))
    }
}

/// Where the process is in its life, as readiness reports it.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    /// From now on readiness answers 503, so load balancers stop sending
    /// new requests while the ones already here are served.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}
