//! STS on the same listener (query protocol: form-encoded POST, XML answers):
//! AssumeRole hands out credentials whose access key id carries the role's
//! account, so an assumed session acts as that account; GetCallerIdentity.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use quick_xml::escape::escape;

use super::identity::{Caller, caller_from_headers};
use super::requests::Call;
use super::shared::{Session, Shared, lock};
use super::wire::timestamp;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// An STS error in the query protocol's XML form.
struct StsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl StsError {
    fn validation(message: impl Into<String>) -> Self {
        StsError {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationError",
            message: message.into(),
        }
    }
}

/// `POST /` (and `GET /?Action=...`): the STS entry point.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let caller = caller_from_headers(&headers, &shared.admin_account());
    let mut params: HashMap<String, String> = form(query.as_deref().unwrap_or_default().as_bytes());
    params.extend(form(&body));
    let action = params.get("Action").cloned().unwrap_or_default();
    let result = match action.as_str() {
        "AssumeRole" => assume_role(&shared, &params),
        "GetCallerIdentity" => Ok(caller_identity(&shared, &caller)),
        other => Err(StsError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidAction",
            message: format!("Could not find operation {other} for version 2011-06-15"),
        }),
    };
    let role_account = params.get("RoleArn").and_then(|arn| role_account(arn));
    record(&shared, &caller, &action, role_account, &result);
    match result {
        Ok(xml) => xml_response(StatusCode::OK, xml),
        Err(e) => error_response(&shared, e),
    }
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .map(|pairs| pairs.into_iter().collect())
        .unwrap_or_default()
}

fn record(shared: &Shared, caller: &Caller, action: &str, account: Option<String>, result: &Result<String, StsError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.code,
    };
    lock(&shared.log).record(Call {
        operation: if action.is_empty() { "sts:Unknown" } else { action },
        caller: &caller.account,
        access_key_id: &caller.access_key_id,
        region: &caller.region,
        account_ids: account.into_iter().collect(),
        outcome,
        unprocessed: Vec::new(),
    });
}

/// The account of `arn:aws:iam::123456789012:role/NAME`.
fn role_account(arn: &str) -> Option<String> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, _partition, service, _region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let resource = parts.next()?;
    let valid = prefix == "arn" && service == "iam" && resource.starts_with("role/");
    (valid && super::state::is_account_id(account)).then(|| account.to_string())
}

fn assume_role(shared: &Shared, params: &HashMap<String, String>) -> Result<String, StsError> {
    let arn = params
        .get("RoleArn")
        .ok_or_else(|| StsError::validation("RoleArn is required"))?;
    let session = params
        .get("RoleSessionName")
        .filter(|s| (2..=64).contains(&s.len()))
        .ok_or_else(|| StsError::validation("RoleSessionName must be 2 to 64 characters"))?;
    let account = role_account(arn).ok_or_else(|| StsError::validation(format!("{arn} is invalid")))?;
    let seconds: i64 = match params.get("DurationSeconds") {
        None => 3600,
        Some(text) => text
            .parse()
            .ok()
            .filter(|s| (900..=43_200).contains(s))
            .ok_or_else(|| StsError::validation("DurationSeconds must be 900 to 43200"))?,
    };
    let role_name = arn.rsplit('/').next().unwrap_or_default();
    let access_key_id = format!("ASIA{account}{}", shared.random_chars(4, UPPER));
    let assumed = Session {
        assumed_role_arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}"),
        assumed_role_id: format!("AROA{}:{session}", shared.random_chars(17, UPPER)),
    };
    lock(&shared.sessions).insert(access_key_id.clone(), assumed.clone());
    let expiration = timestamp(&(Utc::now() + Duration::seconds(seconds)));
    let secret = shared.random_chars(40, ALNUM);
    let token = shared.random_chars(64, ALNUM);
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"{NAMESPACE}\"><AssumeRoleResult><Credentials>\
<AccessKeyId>{access_key_id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
<SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
<PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>\
<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        escape(assumed.assumed_role_id.as_str()),
        escape(assumed.assumed_role_arn.as_str()),
        request_id(shared),
    ))
}

fn caller_identity(shared: &Shared, caller: &Caller) -> String {
    let session = lock(&shared.sessions).get(&caller.access_key_id).cloned();
    let (arn, user_id) = match session {
        Some(s) => (s.assumed_role_arn, s.assumed_role_id),
        None => (format!("arn:aws:iam::{}:root", caller.account), caller.account.clone()),
    };
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\"><GetCallerIdentityResult>\
<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult>\
<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        escape(arn.as_str()),
        escape(user_id.as_str()),
        caller.account,
        request_id(shared),
    )
}

fn request_id(shared: &Shared) -> String {
    let hex = shared.random_chars(32, b"0123456789abcdef");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn error_response(shared: &Shared, e: StsError) -> Response {
    let xml = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code>\
<Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        e.code,
        escape(e.message.as_str()),
        request_id(shared),
    );
    xml_response(e.status, xml)
}

fn xml_response(status: StatusCode, xml: String) -> Response {
    let mut response = (status, xml).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

#[cfg(test)]
mod tests {
    use super::role_account;

    #[test]
    fn role_account_from_arn() {
        assert_eq!(
            role_account("arn:aws:iam::222222222222:role/Member").as_deref(),
            Some("222222222222")
        );
        assert_eq!(role_account("arn:aws:iam::222222222222:user/x"), None);
        assert_eq!(role_account("nonsense"), None);
    }
}
