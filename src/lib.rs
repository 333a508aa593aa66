//! Quire: a self-hosted blogging platform, one binary with several roles.

pub mod app;
pub mod archive;
pub mod assembly;
pub mod backup;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod features;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod maintenance;
pub mod markdown;
pub mod metrics;
pub mod page_cache;
pub mod storage;
pub mod telemetry;
pub mod templates;
pub mod zone;
