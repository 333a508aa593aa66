//! The site's secret key: given by the operator, or for a local (SQLite)
//! site generated once into the data folder.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::ConfigError;

/// The site secret. Its `Debug` never shows the value, so it cannot reach a log.
#[derive(Clone)]
pub struct SecretKey(String);

const MIN_SECRET_LEN: usize = 32;

impl SecretKey {
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Never fails, so that clap, which quotes a value it refuses, never prints
/// a secret; the length is checked by [`resolve`].
impl FromStr for SecretKey {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl SecretKey {
    fn checked(self, origin: &str) -> Result<Self, ConfigError> {
        if self.0.chars().count() < MIN_SECRET_LEN {
            return Err(ConfigError {
                variable: "QUIRE_SECRET_KEY",
                message: format!(
                    "{origin}must be at least {MIN_SECRET_LEN} characters \
                     (generate one with `openssl rand -hex 32`)"
                ),
            });
        }
        Ok(self)
    }
}

/// Where the key in use came from, for `check --deploy`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `QUIRE_SECRET_KEY` (or its file).
    Configured,
    /// Generated into (or read from) DATA_DIR/secret_key.
    DataDir,
}

/// The secret key: the configured one, or for a local (SQLite) setup one
/// generated once into the data folder and reused after.
pub fn resolve(
    given: Option<SecretKey>,
    is_postgres: bool,
    data_dir: &Path,
) -> Result<(SecretKey, Origin), ConfigError> {
    if let Some(key) = given {
        return Ok((key.checked("")?, Origin::Configured));
    }
    if is_postgres {
        return Err(ConfigError {
            variable: "QUIRE_SECRET_KEY",
            message: "is required when the database is PostgreSQL (a production setup); \
                      set it to a random string of at least 32 characters"
                .into(),
        });
    }
    let key = load_or_generate_secret(&data_dir.join("secret_key"))?;
    Ok((key, Origin::DataDir))
}

fn load_or_generate_secret(path: &Path) -> Result<SecretKey, ConfigError> {
    let error = |message: String| ConfigError {
        variable: "QUIRE_SECRET_KEY",
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey(text.trim().to_owned())
            .checked(&format!("is unset, and the key in {} ", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let key: String = rand::rng()
                .sample_iter(rand::distr::Alphanumeric)
                .take(64)
                .map(char::from)
                .collect();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    error(format!(
                        "is unset and {} cannot be created: {e}",
                        parent.display()
                    ))
                })?;
            }
            write_private(path, &key).map_err(|e| {
                error(format!(
                    "is unset and {} cannot be written: {e}",
                    path.display()
                ))
            })?;
            tracing::info!(path = %path.display(), "generated a secret key for this local installation");
            Ok(SecretKey(key))
        }
        Err(e) => Err(error(format!(
            "is unset and {} cannot be read: {e}",
            path.display()
        ))),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
