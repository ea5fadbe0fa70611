//! Answering many queued reads with one ListMembers sweep instead of GetMembers by 50.
//!
//! A GetMembers batch costs one call per 50 accounts read; a sweep costs one call per 50
//! members the administrator has in the region. At a cold start (thousands of new
//! resources, few members in AWS yet) the sweep is far cheaper; in a steady state (one new
//! resource among thousands of members) GetMembers is. The batcher drains every read queued
//! for the region and sweeps only when the sweep is expected to take fewer calls, with that
//! many pages as a hard cap. Every read it answers was queued before the sweep started, so
//! the answer is as fresh as a GetMembers sent at the same moment would have been.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Accounts per ListMembers page and per GetMembers call.
pub const PAGE: usize = 50;
/// After a failed sweep, GetMembers only for this long.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(600);

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

    /// A sweep listed `members` members.
    pub fn swept(&mut self, region: &str, members: usize) {
        let r = self.regions.entry(region.to_string()).or_default();
        r.members = Some(members);
        r.paused_until = None;
    }

    /// A sweep needed more than its budget of pages (at least `members` members), or
    /// failed: remember the size, and leave reads to GetMembers for a while.
    pub fn abandoned(&mut self, region: &str, members: usize) {
        let r = self.regions.entry(region.to_string()).or_default();
        r.members = Some(r.members.unwrap_or(0).max(members));
        r.paused_until = Some(Instant::now() + PAUSE_AFTER_FAILURE);
    }

    /// CreateMembers added `n` members.
    pub fn created(&mut self, region: &str, n: usize) {
        if let Some(members) = self.regions.get_mut(region).and_then(|r| r.members.as_mut()) {
            *members = members.saturating_add(n);
        }
    }
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
        roster.created("r", 500);
        assert_eq!(
            roster.sweep_budget("r", 51, 50),
            Some(1),
            "creates do not make the size known"
        );
        roster.swept("r", 120);
        assert_eq!(roster.sweep_budget("r", 150, 50), None, "3 pages vs 3 calls");
        assert_eq!(roster.sweep_budget("r", 151, 50), Some(3));
        roster.created("r", 10_000);
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
        roster.swept("r", 0);
        assert_eq!(roster.sweep_budget("r", 1000, 50), Some(19));
    }
}
