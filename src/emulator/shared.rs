//! State shared by every request handler: the world, the limiter, the faults,
//! the request log and the fixed behaviour of simulated member accounts.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::admin::MissingMember;
use super::faults::Faults;
use super::limits::{RateLimit, RateLimiter};
use super::requests::RequestLog;
use super::state::{Directory, World};

/// How simulated member accounts answer invitations.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Every invited account accepts after this delay (unless it declines).
    pub auto_accept_after: Option<Duration>,
    /// Accounts that accept on their own (at once unless a delay is set).
    pub auto_accept_accounts: BTreeSet<String>,
    /// Accounts that decline (and become Resigned) instead.
    pub decline_accounts: BTreeSet<String>,
}

/// What an invited account does on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Accept(Duration),
    Decline(Duration),
}

impl Behaviour {
    pub fn reaction(&self, account: &str) -> Option<Reaction> {
        let delay = self.auto_accept_after.unwrap_or_default();
        if self.decline_accounts.contains(account) {
            Some(Reaction::Decline(delay))
        } else if self.auto_accept_after.is_some() || self.auto_accept_accounts.contains(account) {
            Some(Reaction::Accept(delay))
        } else {
            None
        }
    }
}

/// A session STS issued: lets GetCallerIdentity name the assumed role.
#[derive(Debug, Clone)]
pub struct Session {
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
}

/// Everything the handlers share; every lock is held only for one short step.
#[derive(Debug)]
pub struct Shared {
    pub world: Mutex<World>,
    pub initial_directory: Directory,
    pub limiter: Mutex<RateLimiter>,
    pub faults: Mutex<Faults>,
    pub rng: Mutex<StdRng>,
    pub log: Mutex<RequestLog>,
    pub sessions: Mutex<HashMap<String, Session>>,
    pub behaviour: Behaviour,
    pub missing_member: MissingMember,
}

impl Shared {
    pub fn new(
        directory: Directory,
        rate: RateLimit,
        seed: Option<u64>,
        behaviour: Behaviour,
        missing_member: MissingMember,
    ) -> Self {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Shared {
            world: Mutex::new(World::new(directory.clone())),
            initial_directory: directory,
            limiter: Mutex::new(RateLimiter::new(rate)),
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(rng),
            log: Mutex::new(RequestLog::default()),
            sessions: Mutex::new(HashMap::new()),
            behaviour,
            missing_member,
        }
    }

    pub fn admin_account(&self) -> String {
        self.initial_directory.admin_account.clone()
    }

    /// 32 lowercase hex characters, the form of real invitation ids.
    pub fn new_invitation_id(&self) -> String {
        self.random_chars(32, b"0123456789abcdef")
    }

    /// Random characters from `alphabet` (seeded when `--seed` is given).
    pub fn random_chars(&self, len: usize, alphabet: &[u8]) -> String {
        let mut rng = lock(&self.rng);
        (0..len)
            .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
            .collect()
    }
}

/// The emulator must keep answering even after a bug in one request.
pub use crate::sync::lock;
