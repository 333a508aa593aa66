//! Time zones: authors type and read times in their own zone (an IANA name
//! such as `Europe/Paris`, from their settings or else their browser); the
//! database keeps UTC. The zone database is jiff's: the system's when it
//! has one, else a copy built into the binary (the container image has
//! none).

use crate::db::Timestamp;

/// A named time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Default for Zone {
    fn default() -> Self {
        Self::utc()
    }
}

impl Zone {
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone of an IANA name, or `None` for a name the database does not
    /// know (names are short; anything long is not one).
    pub fn named(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return None;
        }
        let tz = jiff::tz::db().get(name).ok()?;
        Some(Self {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `at` as a `datetime-local` field shows it here: `YYYY-MM-DDTHH:MM`.
    pub fn local_input(&self, at: Timestamp) -> String {
        let Ok(instant) = jiff::Timestamp::from_second(at.unix_timestamp()) else {
            return String::new();
        };
        instant
            .to_zoned_datetime(self.tz.clone())
            .datetime()
            .strftime("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// A `datetime-local` field's value (`YYYY-MM-DDTHH:MM`, seconds
    /// optional) read as a time here. A time the zone skips (the hour
    /// clocks go forward) is moved past the gap, and one it repeats is the
    /// earlier of the two: jiff's "compatible" rule, as calendars do.
    /// `None` for anything else, and for years outside 1970–9999 (typos,
    /// which have no RFC 3339 form).
    pub fn read_local_input(&self, text: &str) -> Option<Timestamp> {
        let local: jiff::civil::DateTime = text.trim().parse().ok()?;
        if !(1970..=9999).contains(&local.year()) {
            return None;
        }
        let at = local.to_zoned_datetime(self.tz.clone()).ok()?.timestamp();
        let at = time::OffsetDateTime::from_unix_timestamp(at.as_second()).ok()?;
        Some(Timestamp::from_datetime(at))
    }

    /// Every zone the database knows, sorted, for a picker: read once, as
    /// the bundled database never changes while the site runs.
    pub fn names() -> &'static [String] {
        static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
            let mut names: Vec<String> = jiff::tz::db()
                .available()
                .map(|name| name.as_str().to_owned())
                .collect();
            names.sort();
            names
        });
        &NAMES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Timestamp {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339);
        Timestamp::from_datetime(at.unwrap())
    }

    #[test]
    fn local_times_are_read_and_shown_in_the_zone() {
        let paris = Zone::named("Europe/Paris").unwrap();
        let at = paris.read_local_input("2030-01-15T09:30").unwrap();
        assert_eq!(at, utc("2030-01-15T08:30:00Z"));
        assert_eq!(paris.local_input(at), "2030-01-15T09:30");
        // Summer time, and seconds as some browsers send them.
        let summer = paris.read_local_input("2030-07-15T09:30:00").unwrap();
        assert_eq!(summer, utc("2030-07-15T07:30:00Z"));
        // The hour skipped in spring moves past the gap.
        let skipped = paris.read_local_input("2030-03-31T02:30").unwrap();
        assert_eq!(skipped, utc("2030-03-31T01:30:00Z"));
        assert_eq!(Zone::utc().local_input(at), "2030-01-15T08:30");
    }

    #[test]
    fn unknown_zones_and_odd_input_are_refused() {
        for name in ["", "Mars/Olympus", "../etc/passwd", &"A".repeat(100)] {
            assert!(Zone::named(name).is_none(), "{name:?}");
        }
        let zone = Zone::utc();
        for text in [
            "",
            "tomorrow",
            "2030-13-01T00:00",
            "1969-12-31T23:59",
            "12345-01-01T00:00",
        ] {
            assert!(zone.read_local_input(text).is_none(), "{text:?}");
        }
        assert!(Zone::names().iter().any(|n| n == "America/New_York"));
    }
}
