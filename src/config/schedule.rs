//! Cron schedules for periodic jobs (croner), computed in whole seconds
//! so that every process finds the same instants.

use crate::db::Timestamp;

/// A cron schedule, in UTC.
#[derive(Clone, Debug)]
pub struct Schedule(croner::Cron);

impl Schedule {
    pub fn parse(s: &str) -> Result<Self, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(s)
            .map(Self)
            .map_err(|e| format!("is not a cron schedule such as `0 17 * * * *`: {e}"))
    }

    /// The first time strictly after `after` that the schedule fires.
    pub fn next_after(&self, after: Timestamp) -> Timestamp {
        // Whole seconds: every process must compute the very same instants.
        let at = chrono::DateTime::from_timestamp(after.unix_timestamp(), 0).unwrap_or_default();
        let next = self
            .0
            .find_next_occurrence(&at, false)
            .map(|n| n.timestamp())
            .unwrap_or(i64::MAX / 4);
        Timestamp::from_datetime(
            time::OffsetDateTime::from_unix_timestamp(next)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_fire_on_whole_seconds() {
        let every_second = Schedule::parse("* * * * * *").unwrap();
        let now = Timestamp::now();
        let next = every_second.next_after(now);
        assert_eq!(next.unix_timestamp(), now.unix_timestamp() + 1);
        assert_eq!(next.as_datetime().nanosecond(), 0);
        let hourly = Schedule::parse("0 17 * * * *").unwrap();
        assert_eq!(hourly.next_after(now).as_datetime().minute(), 17);
        assert!(Schedule::parse("every tuesday").is_err());
    }
}
