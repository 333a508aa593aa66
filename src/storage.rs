//! Object storage, through the `object_store` crate: a local folder by
//! default, S3 or any S3-compatible server (MinIO, Garage, R2…) for
//! `s3://BUCKET/PREFIX`. The app keeps one handle to its store (uploaded
//! files; `QUIRE_STORAGE_URL`), and backups open theirs
//! (`QUIRE_BACKUP_DEST`) with the same code.
//!
//! The endpoint and credentials of S3 are the standard AWS variables, read
//! by `object_store`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` for a service other than AWS (an
//! `http://` endpoint is allowed because it was asked for), and the rest
//! (session tokens, web identity, instance metadata).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

/// Where features keep work in passing in the site's store — an import's
/// upload until it is read, an archive until it is fetched: not the
/// site's data, so backups and archives leave it out ([`site_objects`]).
const SCRATCH: &str = "scratch";

/// The place in the store for the work in passing `name` of a feature's
/// `kind` (`imports`, `exports`).
pub fn scratch(kind: &str, name: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("{SCRATCH}/{kind}/{name}"))
}

/// Every object of the site's store that is the site's data (its images),
/// not work in passing.
pub fn site_objects(
    store: &dyn ObjectStore,
) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
    use futures_util::StreamExt;
    let scratch = object_store::path::Path::from(SCRATCH);
    Box::pin(store.list(None).filter(move |meta| {
        let keep = !matches!(meta, Ok(meta) if meta.location.prefix_matches(&scratch));
        std::future::ready(keep)
    }))
}

/// Where a store is: a folder, or a bucket and prefix in S3-compatible
/// storage. Backups go to one, and are restored from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl FromStr for Location {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(Self::Folder(PathBuf::from(s)));
        };
        if scheme != "s3" {
            return Err(format!(
                "{scheme}:// is not a place for backups: give a folder or s3://BUCKET/PREFIX"
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("s3:// needs a bucket: s3://BUCKET/PREFIX".into());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The S3 bucket `name`, as the AWS_* variables reach it.
pub fn s3_bucket(name: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(name);
    if builder
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .is_some_and(|endpoint| endpoint.starts_with("http://"))
    {
        builder = builder.with_allow_http(true);
    }
    let store = builder
        .build()
        .with_context(|| format!("s3://{name}: the AWS_* settings"))?;
    Ok(Arc::new(store))
}

/// The store at `location`, with keys relative to it. A folder is created
/// if missing.
pub fn open(location: &Location) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match location {
        Location::Folder(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the storage folder {}", dir.display()))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("opening the storage folder {}", dir.display()))?;
            Ok(Arc::new(store))
        }
        Location::S3 { bucket, prefix } if prefix.is_empty() => s3_bucket(bucket),
        Location::S3 { bucket, prefix } => Ok(Arc::new(PrefixStore::new(
            s3_bucket(bucket)?,
            prefix.as_str(),
        ))),
    }
}

/// Lists the top of the store once: a wrong bucket, endpoint or
/// credentials is reported with what to check.
pub async fn check(store: &dyn ObjectStore, location: &Location) -> anyhow::Result<()> {
    store.list_with_delimiter(None).await.with_context(|| {
        format!(
            "cannot list {location}: check the folder, or for S3 the bucket, AWS_ENDPOINT_URL \
             (outside AWS) and the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
             or the machine's role)"
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Location;

    #[test]
    fn locations_are_folders_or_s3_urls() {
        let parse = |s: &str| s.parse::<Location>();
        assert_eq!(
            parse("/var/backups"),
            Ok(Location::Folder("/var/backups".into()))
        );
        assert_eq!(
            parse("s3://acme/blog/daily/"),
            Ok(Location::S3 {
                bucket: "acme".into(),
                prefix: "blog/daily".into()
            })
        );
        assert_eq!(
            parse("s3://acme"),
            Ok(Location::S3 {
                bucket: "acme".into(),
                prefix: String::new()
            })
        );
        assert!(parse("s3:///blog").unwrap_err().contains("needs a bucket"));
        assert!(
            parse("gs://acme")
                .unwrap_err()
                .contains("s3://BUCKET/PREFIX")
        );
    }
}
