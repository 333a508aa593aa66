//! Server-side sessions in our own database, for tower-sessions.
//!
//! The published sqlx store still targets sqlx 0.8, and we want one more
//! thing from ours: the signed-in user's id in a column of its own, so that
//! deleting an account or changing a password can end that user's sessions.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::db::{Db, Timestamp, query};

/// The session key under which the signed-in user's id is kept.
pub const USER_ID_KEY: &str = "user_id";

#[derive(Debug, Clone)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

struct Row {
    user_id: Option<i64>,
    data: String,
    expires_at: Timestamp,
}

impl Row {
    fn from_record(record: &Record) -> session_store::Result<Self> {
        Ok(Self {
            user_id: record.data.get(USER_ID_KEY).and_then(|v| v.as_i64()),
            data: serde_json::to_string(&record.data)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?,
            expires_at: Timestamp::from_datetime(record.expiry_date),
        })
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let row = Row::from_record(record)?;
        // Ids are 128 random bits; a collision is astronomically unlikely,
        // but if one happens we draw again rather than overwrite a session.
        loop {
            let inserted = query(
                "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.to_string())
            .bind(row.user_id)
            .bind(&row.data)
            .bind(row.expires_at)
            .execute(&self.db)
            .await
            .map_err(backend)?;
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let row = Row::from_record(record)?;
        query(
            "INSERT INTO sessions (id, user_id, data, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, data = excluded.data,
                 expires_at = excluded.expires_at",
        )
        .bind(record.id.to_string())
        .bind(row.user_id)
        .bind(&row.data)
        .bind(row.expires_at)
        .execute(&self.db)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row: Option<(String, Timestamp)> =
            query("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2")
                .bind(id.to_string())
                .bind(Timestamp::now())
                .fetch_optional(&self.db)
                .await
                .map_err(backend)?;
        row.map(|(data, expires_at)| {
            Ok(Record {
                id: *id,
                data: serde_json::from_str(&data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))?,
                expiry_date: expires_at.as_datetime(),
            })
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
