//! Sign-in backoff: failed sign-ins slow the next attempts down, per
//! account and per client address, instead of locking anyone out.
//!
//! Each key (an account, a client address) has a few free failures; each
//! failure after them doubles the wait before the next attempt may come,
//! from a second up to a cap. An attempt during the wait is refused with
//! its Retry-After before any password is checked, so guessing goes no
//! faster than the waits allow. A lockout let anyone who knew a username
//! keep its owner out; a wait only slows whoever keeps failing, and the
//! owner's own devices pass the account's waits (see `device`).
//!
//! The state is a row per key in the database, so that every replica
//! counts the same failures.

use std::net::IpAddr;

use time::Duration;

use crate::db::{Db, Timestamp, query};
use crate::error::{AppError, AppResult};

/// Which budget a key has: failures allowed before the waits start.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    free: i64,
}

/// An account: its owner mistypes a few times; a guesser needs thousands.
pub const ACCOUNT: Policy = Policy { free: 3 };
/// A client address: more, since a household or an office shares one.
pub const ADDRESS: Policy = Policy { free: 10 };

/// The wait after the first failure past the free ones; each further
/// failure doubles it, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::seconds(1);
/// About a hundred guesses a day per key at most, however long it goes on.
const MAX_WAIT: Duration = Duration::minutes(15);
/// A key's failures are forgotten this long after its last wait ended. Far
/// longer than [`MAX_WAIT`]: a guesser who waits out the cap keeps it.
pub const FORGET_AFTER: Duration = Duration::days(1);

/// How many times an attempt re-reads its key's row when another attempt
/// changed it meanwhile, before it is refused as one of too many at once.
const RACES: usize = 8;

/// The budget key of an account (by id, or by the name tried when no
/// account has it, so guesses at unknown names are slowed down too).
pub fn account_key(user_id: Option<i64>, login_key: &str) -> String {
    match user_id {
        Some(id) => format!("account:{id}"),
        None => format!("unknown:{login_key}"),
    }
}

/// The budget key of an account's known devices: failures made on them
/// count apart from the account's, so failures elsewhere do not delay
/// them (and a stolen device cookie still guesses no faster).
pub fn known_device_key(user_id: i64) -> String {
    format!("account:{user_id}:known-device")
}

/// The budget key of a client address; an IPv6 client by its /64, which
/// one subscriber usually has whole.
pub fn address_key(client: IpAddr) -> String {
    match client.to_canonical() {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => {
            let network = ipnet::Ipv6Net::new(v6, 64)
                .expect("64 is a valid prefix length")
                .trunc();
            format!("address:{network}")
        }
    }
}

/// One sign-in attempt, counted as a failure of its key from the start so
/// that attempts made at once count against each other; a success clears
/// the key ([`Attempt::clear`]).
#[derive(Debug)]
pub struct Attempt {
    key: String,
}

/// Refuses while `key` waits, without counting anything.
pub async fn refuse_while_waiting(db: &Db, key: &str, now: Timestamp) -> AppResult<()> {
    let wait_until: Option<Timestamp> =
        query("SELECT wait_until FROM login_backoff WHERE key = $1")
            .bind(key)
            .scalar_optional(db)
            .await?;
    match wait_until {
        Some(until) if until > now => {
            let wait = until.as_datetime() - now.as_datetime();
            Err(AppError::RateLimited {
                retry_after_secs: (wait.as_seconds_f64().ceil() as u64).max(1),
            })
        }
        _ => Ok(()),
    }
}

/// Counts an attempt against `key`, or refuses it while the key waits.
pub async fn begin(db: &Db, key: String, policy: Policy, now: Timestamp) -> AppResult<Attempt> {
    for _ in 0..RACES {
        let row: Option<(i64, Timestamp)> =
            query("SELECT failures, wait_until FROM login_backoff WHERE key = $1")
                .bind(key.clone())
                .fetch_optional(db)
                .await?;
        let counted = match row {
            Some((_, wait_until)) if wait_until > now => {
                let wait = wait_until.as_datetime() - now.as_datetime();
                return Err(AppError::RateLimited {
                    retry_after_secs: (wait.as_seconds_f64().ceil() as u64).max(1),
                });
            }
            None => {
                let wait_until = now + wait_after(1, policy);
                let inserted = query(
                    "INSERT INTO login_backoff (key, failures, wait_until) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key.clone())
                .bind(wait_until)
                .execute(db)
                .await?;
                inserted == 1
            }
            Some((failures, wait_before)) => {
                let earlier = if wait_before + FORGET_AFTER <= now {
                    0
                } else {
                    failures
                };
                let wait_until = now + wait_after(earlier + 1, policy);
                // Only over the state read: an attempt that changed it
                // meanwhile was counted first, and this one reads again.
                let updated = query(
                    "UPDATE login_backoff SET failures = $2, wait_until = $3
                     WHERE key = $1 AND failures = $4 AND wait_until = $5",
                )
                .bind(key.clone())
                .bind(earlier + 1)
                .bind(wait_until)
                .bind(failures)
                .bind(wait_before)
                .execute(db)
                .await?;
                updated == 1
            }
        };
        if counted {
            return Ok(Attempt { key });
        }
    }
    Err(AppError::RateLimited {
        retry_after_secs: FIRST_WAIT.whole_seconds() as u64,
    })
}

impl Attempt {
    /// The key proved itself (the account's password was right): its
    /// failures are forgotten.
    pub async fn clear(self, db: &Db) -> AppResult<()> {
        query("DELETE FROM login_backoff WHERE key = $1")
            .bind(self.key)
            .execute(db)
            .await?;
        Ok(())
    }
}

/// How long the next attempt waits after a key's `failures`-th failure.
fn wait_after(failures: i64, policy: Policy) -> Duration {
    let past_free = failures - policy.free;
    if past_free <= 0 {
        return Duration::ZERO;
    }
    // 2^10 s is past the cap already: no need to double further.
    let doublings = (past_free - 1).min(10) as u32;
    (FIRST_WAIT * 2_i32.pow(doublings)).min(MAX_WAIT)
}

/// Deletes the keys whose failures are forgotten.
pub async fn purge(db: &Db, now: Timestamp) -> AppResult<u64> {
    Ok(query("DELETE FROM login_backoff WHERE wait_until < $1")
        .bind(now - FORGET_AFTER)
        .execute(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_up_to_the_cap() {
        let waits: Vec<i64> = (1..=16)
            .map(|n| wait_after(n, ACCOUNT).whole_seconds())
            .collect();
        assert_eq!(
            waits,
            [
                0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900
            ]
        );
        assert_eq!(wait_after(10, ADDRESS), Duration::ZERO);
        assert_eq!(wait_after(11, ADDRESS), FIRST_WAIT);
        assert_eq!(wait_after(i64::MAX, ADDRESS), MAX_WAIT);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        assert_eq!(address_key(a), "address:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(address_key(mapped), "address:203.0.113.7");
    }
}
