//! Who is calling: the account and region a request acts as, read from the SigV4
//! `Authorization` header without verifying the signature.
//!
//! Mapping: the first run of 12 digits in the access key id is the account
//! (`AKIA222222222222EXAM` -> 222222222222); a key without one acts as the
//! configured administrator. The region is the credential scope's region.

use axum::http::HeaderMap;

use super::state::Scope;

/// Region used when a request is not signed at all.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The resolved caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub region: String,
    pub access_key_id: String,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        Scope::new(&self.account, &self.region)
    }
}

/// Resolves the caller from the headers; `default_account` covers unsigned
/// requests and keys without 12 digits.
pub fn caller_from_headers(headers: &HeaderMap, default_account: &str) -> Caller {
    let credential = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(credential_scope);
    let (access_key_id, region) = match credential {
        Some((key, region)) => (key, region),
        None => (String::new(), DEFAULT_REGION.to_string()),
    };
    let account = account_in_key(&access_key_id).unwrap_or_else(|| default_account.to_string());
    Caller {
        account,
        region,
        access_key_id,
    }
}

/// Parses `... Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...` into
/// (access key id, region).
fn credential_scope(authorization: &str) -> Option<(String, String)> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let value = authorization[start..].split([',', ' ']).next().unwrap_or_default();
    let mut parts = value.split('/');
    let key = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next().filter(|r| !r.is_empty())?.to_string();
    Some((key, region))
}

/// The first run of 12 consecutive digits in an access key id.
pub fn account_in_key(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut run_start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if !b.is_ascii_digit() {
            run_start = i + 1;
        } else if i + 1 - run_start == 12 {
            return Some(key[run_start..=i].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_first_twelve_digit_run() {
        assert_eq!(account_in_key("AKIA222222222222EXAM").as_deref(), Some("222222222222"));
        assert_eq!(account_in_key("ASIA12345678901234").as_deref(), Some("123456789012"));
        assert_eq!(
            account_in_key("AKIA12345X123456789012").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_in_key("AKIAEXAMPLE"), None);
    }

    #[test]
    fn caller_from_sigv4_header() {
        let mut headers = HeaderMap::new();
        let auth = "AWS4-HMAC-SHA256 Credential=AKIA333333333333EXAM/20240101/eu-west-1/securityhub/aws4_request, SignedHeaders=host, Signature=abc";
        headers.insert("authorization", auth.parse().unwrap());
        let caller = caller_from_headers(&headers, "111111111111");
        assert_eq!(caller.account, "333333333333");
        assert_eq!(caller.region, "eu-west-1");
        let unsigned = caller_from_headers(&HeaderMap::new(), "111111111111");
        assert_eq!(unsigned.account, "111111111111");
        assert_eq!(unsigned.region, DEFAULT_REGION);
    }
}
