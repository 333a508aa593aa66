//! Budgets per client address for the account requests that cost more
//! than a page: an account, an email sent, a password hash. Each is a
//! part of the `App`, counted in this process's memory, so each replica
//! gives an address its own budget (docs/decisions.md says why that is
//! enough). Sign-in has its own backoff, in the database (`backoff`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::backoff;
use crate::error::AppResult;
use crate::http::limit::RateLimit;

/// `burst` requests at once, then one more every `period`.
struct Budget {
    burst: u32,
    period: Duration,
}

/// Registrations, on the site and the API: each makes an account, hashes a
/// password and sends a welcome email. A person needs one, a household or
/// an office behind one address a few; 5 an hour keeps sign-up spam slow.
const REGISTRATIONS: Budget = Budget {
    burst: 5,
    period: Duration::from_secs(12 * 60),
};

/// Changes of address: on the site each sends an email to an address the
/// asker need not own; through the API the answer says whether another
/// account has the address (RealWorld's 409), as registering there does. A
/// person changes theirs rarely.
const ADDRESS_CHANGES: Budget = Budget {
    burst: 5,
    period: Duration::from_secs(12 * 60),
};

/// Password reset requests: each may send an email to an address the
/// asker need not own. Repeats for one address already send one email per
/// five minutes (`reset`); this keeps one client from mailing many.
const PASSWORD_RESETS: Budget = Budget {
    burst: 5,
    period: Duration::from_secs(60),
};

/// Requests that check a signed-in member's current password (changing it,
/// deleting the account): each costs a hash, and whoever holds a session
/// must not be able to guess the password behind it quickly.
const PASSWORD_CHECKS: Budget = Budget {
    burst: 5,
    period: Duration::from_secs(60),
};

/// The budgets, or none where `QUIRE_RATE_LIMITS=off` (test suites that
/// make many accounts from one address).
#[derive(Clone)]
pub struct Limits(Option<Arc<Budgets>>);

struct Budgets {
    registrations: RateLimit,
    address_changes: RateLimit,
    password_resets: RateLimit,
    password_checks: RateLimit,
}

impl Limits {
    pub fn new(on: bool) -> Self {
        let limit = |budget: Budget| RateLimit::new(budget.burst, budget.period);
        Self(on.then(|| {
            Arc::new(Budgets {
                registrations: limit(REGISTRATIONS),
                address_changes: limit(ADDRESS_CHANGES),
                password_resets: limit(PASSWORD_RESETS),
                password_checks: limit(PASSWORD_CHECKS),
            })
        }))
    }

    pub fn registration(&self, client: IpAddr) -> AppResult<()> {
        self.check(client, |b| &b.registrations)
    }

    pub fn address_change(&self, client: IpAddr) -> AppResult<()> {
        self.check(client, |b| &b.address_changes)
    }

    pub fn password_reset(&self, client: IpAddr) -> AppResult<()> {
        self.check(client, |b| &b.password_resets)
    }

    pub fn password_check(&self, client: IpAddr) -> AppResult<()> {
        self.check(client, |b| &b.password_checks)
    }

    /// Keyed as the sign-in backoff keys addresses (an IPv6 client by /64).
    fn check(&self, client: IpAddr, which: impl Fn(&Budgets) -> &RateLimit) -> AppResult<()> {
        match &self.0 {
            Some(budgets) => which(budgets).check(backoff::address_key(client)),
            None => Ok(()),
        }
    }
}
