//! The request log: every AWS call with its caller, the accounts it named and its
//! outcome (`ok` or the error code), counted by operation for tests and benchmarks.

use std::collections::{BTreeMap, VecDeque};

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;

use super::wire::timestamp;

/// Entries kept; older ones are dropped but still counted.
const MAX_LOG_ENTRIES: usize = 100_000;

/// One logged call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    pub time: String,
    pub operation: String,
    pub caller: String,
    pub access_key_id: String,
    pub region: String,
    pub account_ids: Vec<String>,
    pub outcome: String,
    /// Named accounts the call answered as `UnprocessedAccounts`: not acted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unprocessed: Vec<String>,
}

/// Counts by operation and outcome plus the recent entries.
#[derive(Debug, Default)]
pub struct RequestLog {
    next_seq: u64,
    counts: BTreeMap<String, BTreeMap<String, u64>>,
    entries: VecDeque<LogEntry>,
}

/// What a caller of [`RequestLog::record`] knows about a finished call.
pub struct Call<'a> {
    pub operation: &'a str,
    pub caller: &'a str,
    pub access_key_id: &'a str,
    pub region: &'a str,
    pub account_ids: Vec<String>,
    pub outcome: &'a str,
    pub unprocessed: Vec<String>,
}

impl RequestLog {
    pub fn record(&mut self, call: Call<'_>) {
        self.next_seq += 1;
        *self
            .counts
            .entry(call.operation.to_string())
            .or_default()
            .entry(call.outcome.to_string())
            .or_default() += 1;
        self.entries.push_back(LogEntry {
            seq: self.next_seq,
            time: timestamp(&Utc::now()),
            operation: call.operation.to_string(),
            caller: call.caller.to_string(),
            access_key_id: call.access_key_id.to_string(),
            region: call.region.to_string(),
            account_ids: call.account_ids,
            outcome: call.outcome.to_string(),
            unprocessed: call.unprocessed,
        });
        if self.entries.len() > MAX_LOG_ENTRIES {
            self.entries.pop_front();
        }
    }

    /// `{"counts": ..., "log": [...]}` with entries after `since`.
    pub fn snapshot(&self, since: u64) -> Value {
        let log: Vec<&LogEntry> = self.entries.iter().filter(|e| e.seq > since).collect();
        serde_json::json!({"counts": self.counts, "log": log, "lastSeq": self.next_seq})
    }

    pub fn clear(&mut self) {
        *self = RequestLog::default();
    }
}

/// The account ids a request body names: `AccountIds`, `AccountDetails[].AccountId`,
/// `AdministratorId`, `MasterId` or `AdminAccountId`.
pub fn named_accounts(body: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(Value::Array(list)) = body.get("AccountIds") {
        ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(Value::Array(list)) = body.get("AccountDetails") {
        ids.extend(
            list.iter()
                .filter_map(|d| d.get("AccountId").and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    for key in ["AdministratorId", "MasterId", "AdminAccountId"] {
        if let Some(id) = body.get(key).and_then(Value::as_str) {
            ids.push(id.to_string());
        }
    }
    ids
}
