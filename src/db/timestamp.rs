//! A point in time as both databases store it.
//!
//! PostgreSQL keeps `TIMESTAMPTZ` with microsecond precision. SQLite has no
//! time type, so we store text in one fixed-width UTC format with six
//! fractional digits: comparing and ordering those strings is comparing and
//! ordering the times, and a value read back is exactly the value written,
//! on either backend. sqlx's own SQLite encoding trims trailing zeros from
//! the fraction, which breaks text ordering, hence this type.

use std::fmt;

use serde::{Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

const SQLITE_FORMAT: &[time::format_description::FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

impl Timestamp {
    pub const EPOCH: Timestamp = Timestamp(OffsetDateTime::UNIX_EPOCH);

    /// Now, truncated to the microsecond so that it survives a round trip.
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    pub fn from_datetime(at: OffsetDateTime) -> Self {
        let at = at.to_offset(UtcOffset::UTC);
        let micros = at.microsecond();
        Self(
            at.replace_microsecond(micros)
                .expect("microsecond is in range"),
        )
    }

    pub fn as_datetime(self) -> OffsetDateTime {
        self.0
    }

    pub fn unix_timestamp(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// RFC 3339 in UTC, with the sub-second digits the value has.
    pub fn rfc3339(self) -> String {
        self.0
            .format(&Rfc3339)
            .expect("UTC timestamps always format")
    }

    /// `2026-11-22T03:08:01.776Z`: always three fractional digits, the form
    /// of JavaScript's `toISOString`, for the JSON API.
    pub fn iso_millis(self) -> String {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        self.0.format(format).unwrap_or_else(|_| self.0.to_string())
    }
}

/// RFC 3339, as [`Timestamp::rfc3339`] writes it (and as SQLite stores it).
impl std::str::FromStr for Timestamp {
    type Err = time::error::Parse;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from_datetime)
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 + rhs)
    }
}

/// For intervals from settings (leases, backoff), which are std durations.
impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: std::time::Duration) -> Timestamp {
        Self::from_datetime(self.0 + rhs)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 - rhs)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.0.format(SQLITE_FORMAT)?, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        let at = time::PrimitiveDateTime::parse(text, SQLITE_FORMAT)?.assume_utc();
        Ok(Self(at))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::from_datetime(
            <OffsetDateTime as Decode<Postgres>>::decode(value)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_orders_like_time() {
        let base = Timestamp::now();
        let times = [
            base,
            base + Duration::microseconds(1),
            base + Duration::milliseconds(500),
            base + Duration::seconds(1),
        ];
        let texts: Vec<String> = times
            .iter()
            .map(|t| t.0.format(SQLITE_FORMAT).unwrap())
            .collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        assert!(texts.iter().all(|t| t.len() == texts[0].len()));
    }

    #[test]
    fn now_survives_a_round_trip_through_text() {
        let now = Timestamp::now();
        let text = now.0.format(SQLITE_FORMAT).unwrap();
        let back = time::PrimitiveDateTime::parse(&text, SQLITE_FORMAT)
            .unwrap()
            .assume_utc();
        assert_eq!(Timestamp(back), now);
    }
}
