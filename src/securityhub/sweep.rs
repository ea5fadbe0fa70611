//! Answering many queued reads with one ListMembers sweep instead of GetMembers by 50.
//!
//! A GetMembers batch costs one call per 50 accounts read; a sweep costs one call per 50
//! members the administrator has in the region. At a cold start (thousands of new
//! resources, few members in AWS yet) the sweep is far cheaper; in a steady state (one new
//! resource among thousands of members) GetMembers is. The batcher drains every read queued
//! for the region and sweeps only when the sweep is expected to take fewer calls, with that
//! many pages as a hard cap. Every read it answers was queued before the sweep started, so
//! the answer is as fresh as a GetMembers sent at the same moment would have been.
//!
//! For a while after a sweep, the roster also answers "absent" for accounts the sweep did
//! not list and nobody created since (the reads before a first create, at a cold start),
//! without a call. Stale only if someone else added the member meanwhile; then AWS refuses
//! the create as "already a member", the claim is withdrawn (see `plan::fold`) and the member
//! is read like any other.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api::{MemberRecord, MembershipApi};
use super::observe::{CallObserver, observe_with, outcome};
use super::ratelimit::RateLimiter;

/// Accounts per ListMembers page and per GetMembers call.
pub const PAGE: usize = 50;
/// After a failed sweep, GetMembers only for this long.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(600);
/// How long after a complete sweep an unlisted account is known to be absent.
pub const ABSENT_FRESH: Duration = Duration::from_secs(120);

/// What the batcher knows about the size of each region's member list.
#[derive(Default)]
pub struct Roster {
    regions: HashMap<String, RegionRoster>,
}

#[derive(Default)]
struct RegionRoster {
    /// Members in AWS as of the last sweep plus those created since; `None` until a
    /// sweep has seen the region.
    members: Option<usize>,
    paused_until: Option<Instant>,
    /// When the last complete sweep ended, and the accounts it listed plus every account
    /// known to exist since (12-digit ids as numbers).
    swept_at: Option<Instant>,
    listed: HashSet<u64>,
}

impl Roster {
    /// How many pages a sweep may take to answer `reads` queued reads more cheaply than
    /// GetMembers batches of `max_batch` would; `None` when GetMembers is as cheap.
    pub fn sweep_budget(&self, region: &str, reads: usize, max_batch: usize) -> Option<usize> {
        if max_batch <= 1 {
            // --max-batch-size 1 reproduces the one-call-per-member pattern, reads included.
            return None;
        }
        let r = self.regions.get(region);
        if r.and_then(|r| r.paused_until)
            .is_some_and(|until| Instant::now() < until)
        {
            return None;
        }
        let gets = reads.div_ceil(max_batch);
        match r.and_then(|r| r.members) {
            Some(members) => (members / PAGE + 1 < gets).then_some(gets - 1),
            // Size unknown: a probe of at most a tenth of the calls it may save, so a
            // region that turns out large wastes little before GetMembers takes over.
            None => (gets > 1).then_some((gets / 10).max(1)),
        }
    }

    /// A complete sweep listed these accounts. Accounts known to exist before stay known: a
    /// create sent while the sweep paged may be missing from its pages, and an account
    /// wrongly known to exist only costs a read.
    pub fn swept<'a>(&mut self, region: &str, accounts: impl IntoIterator<Item = &'a str>) {
        let r = self.regions.entry(region.to_string()).or_default();
        let mut members = 0;
        for id in accounts.into_iter().filter_map(number) {
            members += 1;
            r.listed.insert(id);
        }
        r.members = Some(members);
        r.swept_at = Some(Instant::now());
        r.paused_until = None;
    }

    /// Whether `account` is known not to be a member: a sweep less than [`ABSENT_FRESH`]
    /// ago did not list it and it is not known to exist since.
    pub fn known_absent(&self, region: &str, account: &str) -> bool {
        let Some(r) = self.regions.get(region) else {
            return false;
        };
        let fresh = r.swept_at.is_some_and(|at| at.elapsed() < ABSENT_FRESH);
        fresh && number(account).is_some_and(|id| !r.listed.contains(&id))
    }

    /// AWS reported `account` as a member (read, or refused a create as already one).
    pub fn exists(&mut self, region: &str, account: &str) {
        if let (Some(r), Some(id)) = (self.regions.get_mut(region), number(account)) {
            r.listed.insert(id);
        }
    }

    /// A sweep needed more than its budget of pages (at least `members` members), or
    /// failed: remember the size, and leave reads to GetMembers for a while.
    pub fn abandoned(&mut self, region: &str, members: usize) {
        let r = self.regions.entry(region.to_string()).or_default();
        r.members = Some(r.members.unwrap_or(0).max(members));
        r.paused_until = Some(Instant::now() + PAUSE_AFTER_FAILURE);
    }

    /// CreateMembers added these members.
    pub fn created<'a>(&mut self, region: &str, accounts: impl IntoIterator<Item = &'a str>) {
        let Some(r) = self.regions.get_mut(region) else {
            return;
        };
        let mut n = 0;
        for account in accounts {
            n += 1;
            if let Some(id) = number(account) {
                r.listed.insert(id);
            }
        }
        if let Some(members) = r.members.as_mut() {
            *members = members.saturating_add(n);
        }
    }
}

/// An account id as a number; `None` for anything but 12 digits (never known absent).
/// Lists `region`'s members, at most `pages` ListMembers pages, and tells `roster` what it
/// saw: the members when the list was complete; `None` when it was longer or a page failed
/// (sweeping then pauses in that region, and the reads go to GetMembers).
pub async fn list_region(
    api: &dyn MembershipApi,
    limiter: &RateLimiter,
    observer: &dyn CallObserver,
    roster: &Mutex<Roster>,
    region: &str,
    pages: usize,
) -> Option<Vec<MemberRecord>> {
    let mut listed = Vec::new();
    let mut token = None;
    for page in 0..pages {
        if page > 0 {
            limiter.acquire(region).await;
        }
        let answer = observe_with(
            observer,
            "ListMembers",
            api.list_members_page(region, token.take()),
            |r| (outcome(r), r.as_ref().map_or(0, |(members, _)| members.len())),
        )
        .await;
        match answer {
            Ok((members, next)) => {
                listed.extend(members);
                match next {
                    Some(next) => token = Some(next),
                    None => {
                        crate::sync::lock(roster).swept(region, listed.iter().map(|m| m.account_id.as_str()));
                        return Some(listed);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(region, code = %e.code, "sweep failed; reading by GetMembers");
                break;
            }
        }
    }
    crate::sync::lock(roster).abandoned(region, listed.len() + 1);
    None
}

fn number(account: &str) -> Option<u64> {
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        .then(|| account.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_when_fewer_pages_than_get_calls() {
        let mut roster = Roster::default();
        // Size unknown: a probe of a tenth of the 20 GetMembers calls 1,000 reads need.
        assert_eq!(roster.sweep_budget("r", 1000, 50), Some(2));
        assert_eq!(roster.sweep_budget("r", 10_000, 50), Some(20));
        // One batch of reads: a GetMembers is as cheap as a page.
        assert_eq!(roster.sweep_budget("r", 50, 50), None);
        assert_eq!(roster.sweep_budget("r", 51, 50), Some(1));
        roster.created("r", ids(0..500).iter().map(String::as_str));
        assert_eq!(
            roster.sweep_budget("r", 51, 50),
            Some(1),
            "creates do not make the size known"
        );
        let listed = ids(0..120);
        roster.swept("r", listed.iter().map(String::as_str));
        assert_eq!(roster.sweep_budget("r", 150, 50), None, "3 pages vs 3 calls");
        assert_eq!(roster.sweep_budget("r", 151, 50), Some(3));
        roster.created("r", ids(1000..11_000).iter().map(String::as_str));
        assert_eq!(roster.sweep_budget("r", 1000, 50), None);
        // --max-batch-size 1 is the per-member baseline: never swept.
        assert_eq!(roster.sweep_budget("other", 1000, 1), None);
    }

    #[test]
    fn an_abandoned_sweep_pauses_sweeping_in_that_region_only() {
        let mut roster = Roster::default();
        roster.abandoned("r", 100);
        assert_eq!(roster.sweep_budget("r", 10_000, 50), None);
        assert_eq!(roster.sweep_budget("s", 1000, 50), Some(2));
        roster.swept("r", []);
        assert_eq!(roster.sweep_budget("r", 1000, 50), Some(19));
    }

    fn ids(range: std::ops::Range<u64>) -> Vec<String> {
        range.map(|i| format!("{:012}", 100_000_000_000 + i)).collect()
    }

    #[test]
    fn unlisted_accounts_are_absent_for_a_while_after_a_sweep() {
        let mut roster = Roster::default();
        let [a, b, c] = ["100000000001", "100000000002", "100000000003"];
        assert!(!roster.known_absent("r", a), "no sweep yet: ask AWS");
        roster.swept("r", [a]);
        assert!(!roster.known_absent("r", a), "listed");
        assert!(roster.known_absent("r", b));
        assert!(!roster.known_absent("s", b), "another region was not swept");
        roster.created("r", [b]);
        assert!(!roster.known_absent("r", b), "created since");
        roster.exists("r", c);
        assert!(!roster.known_absent("r", c), "reported by AWS since");
        assert!(!roster.known_absent("r", "12345"), "not an account id: ask AWS");
        roster.created("r", ["100000000005"]);
        roster.swept("r", [a]);
        assert!(
            !roster.known_absent("r", "100000000005"),
            "a create the next sweep did not list is still known"
        );
        assert!(roster.known_absent("r", "100000000006"));
        roster.regions.get_mut("r").expect("swept").swept_at = Some(Instant::now() - ABSENT_FRESH);
        assert!(!roster.known_absent("r", "100000000004"), "the sweep is too old");
    }
}
