//! The one integration-test binary: the real server over HTTP, on SQLite
//! always and on PostgreSQL when QUIRE_TEST_POSTGRES_URL is set.

#[path = "../support/fediverse_peer.rs"]
mod fediverse_peer;
mod helpers;
#[path = "../support/otlp_sink.rs"]
mod otlp_sink;
#[path = "../support/python.rs"]
mod python;
#[path = "../support/s3_server.rs"]
mod s3_server;
#[path = "../support/smtp_sink.rs"]
mod smtp_sink;

mod accounts;
mod api;
mod archive;
mod backup;
mod blog_mode;
mod cli;
mod comments;
mod database;
mod events;
mod federation;
mod feeds;
mod imports;
mod jobs;
mod layering;
mod markdown;
mod media;
mod migrations;
mod newsletter;
mod operations;
mod page_cache;
mod pages;
mod portability;
mod posts;
mod realworld;
mod schemathesis;
mod search;
mod security;
mod visits;
