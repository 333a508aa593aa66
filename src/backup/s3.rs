//! Backups in S3-compatible object storage (AWS S3, MinIO, Garage, R2…).
//!
//! A backup is made in a local scratch folder as usual, then uploaded file by
//! file to `s3://BUCKET/PREFIX/quire-TIMESTAMP/`, the manifest last: a
//! prefix with a manifest is a finished backup, as a folder with one is.
//! Restoring downloads a backup into a scratch folder and checks it there,
//! before anything is touched.
//!
//! The bucket is reached as `crate::storage` reaches any (the AWS_*
//! variables).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::MANIFEST;

/// A bucket and the prefix backups live under.
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    name: String,
    prefix: Key,
}

impl Bucket {
    /// Opens the bucket and lists the prefix once, so that a wrong endpoint,
    /// bucket or credentials is reported before a backup is made.
    pub async fn open(name: &str, prefix: &str) -> anyhow::Result<Self> {
        let bucket = Self {
            store: crate::storage::s3_bucket(name)?,
            name: name.to_owned(),
            prefix: Key::from(prefix),
        };
        bucket
            .store
            .list_with_delimiter(Some(&bucket.prefix))
            .await
            .with_context(|| {
                format!(
                    "cannot list {}: check the bucket, AWS_ENDPOINT_URL (outside AWS) and the \
                     credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the machine's role)",
                    bucket.url(&bucket.prefix)
                )
            })?;
        Ok(bucket)
    }

    fn url(&self, key: &Key) -> String {
        format!("s3://{}/{key}", self.name)
    }

    fn key(&self, parts: &[&str]) -> Key {
        parts
            .iter()
            .fold(self.prefix.clone(), |key, part| key.clone().join(*part))
    }

    /// Uploads a finished backup folder under the prefix; returns its URL.
    pub async fn upload(&self, folder: &Path) -> anyhow::Result<String> {
        let backup = folder
            .file_name()
            .expect("a backup folder has a name")
            .to_string_lossy()
            .into_owned();
        let manifest = super::read_manifest(folder).await?;
        // Names have one-second resolution: never mix two backups.
        let finished = self.key(&[&backup, MANIFEST]);
        if self.store.head(&finished).await.is_ok() {
            anyhow::bail!(
                "{} exists already: another backup was made in the same second",
                self.url(&finished)
            );
        }
        let names = manifest.files.iter().map(|f| f.path.as_str());
        for name in names.chain([MANIFEST]) {
            let key = self.key(&[&backup, name]);
            self.put_file(&folder.join(name), &key)
                .await
                .with_context(|| format!("uploading {}", self.url(&key)))?;
        }
        Ok(self.url(&self.key(&[&backup])))
    }

    /// Uploads a file, in parts when it is large, so a database of any size
    /// fits; a failed upload's parts are discarded rather than left billed.
    async fn put_file(&self, path: &Path, key: &Key) -> anyhow::Result<()> {
        let mut file = tokio::fs::File::open(path).await?;
        let mut upload = object_store::buffered::BufWriter::new(self.store.clone(), key.clone());
        let sent = match tokio::io::copy(&mut file, &mut upload).await {
            Ok(_) => upload.shutdown().await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            let _ = upload.abort().await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Downloads the backup at the prefix into `folder`: its manifest, then
    /// the files the manifest names.
    pub async fn download(&self, folder: &Path) -> anyhow::Result<()> {
        self.fetch(MANIFEST, folder).await?;
        let manifest = super::read_manifest(folder).await?;
        for entry in &manifest.files {
            self.fetch(&entry.path, folder).await?;
        }
        Ok(())
    }

    async fn fetch(&self, name: &str, folder: &Path) -> anyhow::Result<()> {
        let key = self.key(&[name]);
        let mut chunks = match self.store.get(&key).await {
            Ok(object) => object.into_stream(),
            Err(object_store::Error::NotFound { .. }) if name == MANIFEST => anyhow::bail!(
                "{} does not exist: not a finished Quire backup",
                self.url(&key)
            ),
            Err(e) => return Err(e).with_context(|| format!("downloading {}", self.url(&key))),
        };
        let mut file = tokio::fs::File::create(folder.join(name)).await?;
        while let Some(chunk) = chunks.next().await {
            file.write_all(&chunk.with_context(|| format!("downloading {}", self.url(&key)))?)
                .await?;
        }
        file.flush().await?;
        Ok(())
    }

    /// Whether the object `name` exists right under the prefix.
    pub async fn has(&self, name: &str) -> bool {
        self.store.head(&self.key(&[name])).await.is_ok()
    }

    /// The shared pool of the site's files beside the backups at the prefix.
    pub fn pool(&self) -> Arc<dyn ObjectStore> {
        Arc::new(object_store::prefix::PrefixStore::new(
            self.store.clone(),
            self.key(&[super::POOL]),
        ))
    }

    /// The pool of the place this backup is in (its prefix's parent).
    pub fn parent_pool(&self) -> Arc<dyn ObjectStore> {
        let parent: Key = self
            .prefix
            .parts()
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, parent)| parent.iter().cloned().collect())
            .unwrap_or_default();
        Self {
            store: self.store.clone(),
            name: self.name.clone(),
            prefix: parent,
        }
        .pool()
    }

    /// The bucket at the prefix's child `name`.
    pub fn child(self, name: &str) -> Self {
        Self {
            prefix: self.key(&[name]),
            ..self
        }
    }

    /// The finished backups under the prefix (`quire-TIMESTAMP` with a
    /// manifest), oldest first: the names are timestamps.
    pub async fn finished(&self) -> anyhow::Result<Vec<String>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .with_context(|| format!("listing {}", self.url(&self.prefix)))?;
        let mut backups = Vec::new();
        for folder in listing.common_prefixes {
            let finished = self
                .store
                .head(&folder.clone().join(MANIFEST))
                .await
                .is_ok();
            if let Some(name) = folder.filename().filter(|n| n.starts_with("quire-"))
                && finished
            {
                backups.push(name.to_owned());
            }
        }
        backups.sort();
        Ok(backups)
    }

    /// Deletes the oldest finished backups beyond the newest `keep`.
    pub async fn prune(&self, keep: usize) -> anyhow::Result<usize> {
        let backups: Vec<Key> = self
            .finished()
            .await?
            .iter()
            .map(|name| self.key(&[name]))
            .collect();
        let excess = backups.len().saturating_sub(keep);
        for old in &backups[..excess] {
            // The manifest first: if pruning stops half-way, what is left is
            // an unfinished backup, never a "finished" one with files missing.
            let manifest = old.clone().join(MANIFEST);
            self.store
                .delete(&manifest)
                .await
                .with_context(|| format!("deleting {}", self.url(&manifest)))?;
            let mut objects = self.store.list(Some(old));
            while let Some(object) = objects.next().await {
                let object = object?;
                self.store
                    .delete(&object.location)
                    .await
                    .with_context(|| format!("deleting {}", self.url(&object.location)))?;
            }
        }
        Ok(excess)
    }
}
