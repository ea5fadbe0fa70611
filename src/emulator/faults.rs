//! Fault injection for robustness tests: errors by operation, added latency,
//! a 5xx rate, and corrupted responses. Set through `POST /_emulator/faults`.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, status_for};

/// Ways a successful response can be damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Corruption {
    /// A 200 whose body is cut off mid-JSON.
    MalformedJson,
    /// A 502 with an HTML body, as a load balancer in front of AWS might send.
    HtmlErrorPage,
    /// Every `MemberStatus` replaced by the rule's `memberStatus`.
    UnknownMemberStatus,
    /// Optional member and invitation fields dropped.
    MissingFields,
    /// An `UnprocessedAccounts` entry with no fields added.
    EmptyUnprocessed,
}

/// Inclusive range of added latency in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LatencyMs {
    pub min: u64,
    pub max: u64,
}

/// One fault rule; `operation` is an operation name or `*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default = "any_operation")]
    pub operation: String,
    /// Error code to answer with (its status follows the reference table).
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// Overrides the status the code would get.
    pub status: Option<u16>,
    /// Chance that `errorCode` or `corruption` fires on a matching call.
    #[serde(default = "always")]
    pub probability: f64,
    pub latency_ms: Option<LatencyMs>,
    /// Chance of a 503 ServiceUnavailableException.
    pub server_error_rate: Option<f64>,
    pub corruption: Option<Corruption>,
    /// The status string `unknownMemberStatus` writes.
    pub member_status: Option<String>,
    /// Carry the call out first, then answer with the error or 5xx: a change AWS made whose
    /// answer was lost (a timeout, a dropped connection after commit).
    #[serde(default)]
    pub after_commit: bool,
    /// Fire at most this many times (errors, 5xx and corruption), then stop.
    pub times: Option<u32>,
    /// How often this rule fired so far (read back by GET).
    #[serde(default)]
    pub fired: u32,
}

fn any_operation() -> String {
    "*".to_string()
}

fn always() -> f64 {
    1.0
}

/// What the faults decided for one call.
#[derive(Debug, Default)]
pub struct FaultPlan {
    pub latency: Option<Duration>,
    /// The latency comes after the call was carried out (a late answer), not before.
    pub late_answer: bool,
    pub error: Option<ApiError>,
    /// The error is answered after the call was carried out.
    pub after_commit: bool,
    pub corruption: Option<(Corruption, String)>,
}

/// The active rules, in the order they were given.
#[derive(Debug, Default)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
}

impl Faults {
    /// Rolls the dice for one call of `operation`.
    pub fn plan(&mut self, operation: &str, rng: &mut StdRng) -> FaultPlan {
        let mut plan = FaultPlan::default();
        for rule in self.rules.iter_mut() {
            if rule.operation != "*" && rule.operation != operation {
                continue;
            }
            if let Some(range) = rule.latency_ms {
                let ms = rng.random_range(range.min..=range.max.max(range.min));
                plan.latency = Some(plan.latency.unwrap_or_default().max(Duration::from_millis(ms)));
                plan.late_answer |= rule.after_commit;
            }
            if plan.error.is_some() || rule.times.is_some_and(|t| rule.fired >= t) {
                continue;
            }
            apply_rule(rule, &mut plan, rng);
        }
        plan
    }
}

fn apply_rule(rule: &mut FaultRule, plan: &mut FaultPlan, rng: &mut StdRng) {
    if rule.server_error_rate.is_some_and(|rate| chance(rng, rate)) {
        rule.fired += 1;
        plan.after_commit = rule.after_commit;
        plan.error = Some(ApiError {
            code: "ServiceUnavailableException".to_string(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "Service Unavailable".to_string(),
        });
        return;
    }
    let wants_effect = rule.error_code.is_some() || (rule.corruption.is_some() && plan.corruption.is_none());
    if !wants_effect || !chance(rng, rule.probability) {
        return;
    }
    rule.fired += 1;
    if let Some(code) = &rule.error_code {
        let status = rule
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or_else(|| status_for(code));
        let message = rule.message.clone().unwrap_or_else(|| format!("Injected {code}"));
        plan.after_commit = rule.after_commit;
        plan.error = Some(ApiError {
            code: code.clone(),
            status,
            message,
        });
    } else if let Some(mode) = rule.corruption {
        let status = rule.member_status.clone().unwrap_or_else(|| "Paused".to_string());
        plan.corruption = Some((mode, status));
    }
}

/// A coin that lands true with probability `p`; out-of-range and NaN values are
/// clamped so a bad rule can never make `random_bool` panic.
fn chance(rng: &mut StdRng, p: f64) -> bool {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    rng.random_bool(p)
}

/// Parses a faults body: `{"rules": [...]}`, a bare list, or one rule.
pub fn parse_rules(body: &[u8]) -> Result<Vec<FaultRule>, serde_json::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Wrapped { rules: Vec<FaultRule> },
        List(Vec<FaultRule>),
        One(Box<FaultRule>),
    }
    Ok(match serde_json::from_slice::<Shape>(body)? {
        Shape::Wrapped { rules } | Shape::List(rules) => rules,
        Shape::One(rule) => vec![*rule],
    })
}

/// Renders a successful body, damaged as `corruption` asks.
pub fn corrupt(body: Value, corruption: Option<&(Corruption, String)>) -> Response {
    let Some((mode, status)) = corruption else {
        return axum::Json(body).into_response();
    };
    match mode {
        Corruption::MalformedJson => {
            let mut bytes = body.to_string().into_bytes();
            bytes.truncate(bytes.len().div_ceil(2));
            bytes.extend_from_slice(b"{\"Members\": [");
            json_bytes(bytes)
        }
        Corruption::HtmlErrorPage => html_502(),
        Corruption::UnknownMemberStatus => axum::Json(rewrite_status(body, status)).into_response(),
        Corruption::MissingFields => axum::Json(drop_optional(body)).into_response(),
        Corruption::EmptyUnprocessed => axum::Json(add_empty_unprocessed(body)).into_response(),
    }
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn html_502() -> Response {
    let html = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>";
    let mut response = (StatusCode::BAD_GATEWAY, html).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// Applies `f` to every member-like object (Members[], Invitations[], Administrator, Master).
fn for_each_record(body: &mut Value, f: &dyn Fn(&mut serde_json::Map<String, Value>)) {
    for key in ["Members", "Invitations"] {
        if let Some(Value::Array(items)) = body.get_mut(key) {
            items.iter_mut().filter_map(Value::as_object_mut).for_each(f);
        }
    }
    for key in ["Administrator", "Master"] {
        if let Some(Value::Object(record)) = body.get_mut(key) {
            f(record);
        }
    }
}

fn rewrite_status(mut body: Value, status: &str) -> Value {
    for_each_record(&mut body, &|record| {
        record.insert("MemberStatus".to_string(), Value::String(status.to_string()));
    });
    body
}

fn drop_optional(mut body: Value) -> Value {
    for_each_record(&mut body, &|record| {
        record.retain(|k, _| matches!(k.as_str(), "AccountId" | "MemberStatus"));
    });
    body
}

fn add_empty_unprocessed(mut body: Value) -> Value {
    if let Some(Value::Array(list)) = body.get_mut("UnprocessedAccounts") {
        list.push(Value::Object(serde_json::Map::new()));
    }
    body
}
