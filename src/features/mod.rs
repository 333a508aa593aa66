//! The features of the site, each with its types, rules, SQL and handlers.

pub mod accounts;
pub mod admin;
pub mod comments;
pub mod federation;
pub mod feeds;
pub mod imports;
pub mod media;
pub mod newsletter;
pub mod pages;
pub mod portability;
pub mod posts;
pub mod seo;
pub mod visits;
