//! AWS-shaped errors: the status, the `x-amzn-errortype` header and the
//! `{"Message", "__type"}` body that botocore and the Rust SDK both read.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The error codes the Security Hub model declares, plus the unmodelled
/// `BadRequestException` real AWS returns.
pub const INVALID_INPUT: &str = "InvalidInputException";
pub const INVALID_ACCESS: &str = "InvalidAccessException";
pub const ACCESS_DENIED: &str = "AccessDeniedException";
pub const NOT_FOUND: &str = "ResourceNotFoundException";
pub const CONFLICT: &str = "ResourceConflictException";
pub const LIMIT_EXCEEDED: &str = "LimitExceededException";
pub const INTERNAL: &str = "InternalException";
pub const BAD_REQUEST: &str = "BadRequestException";

/// One failed Security Hub call, rendered the way AWS renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// An error whose status follows the code, as the reference table says.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            status: status_for(code),
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(INVALID_INPUT, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, message)
    }

    /// The error real AWS gives an account that has not enabled Security Hub.
    pub fn not_subscribed(account: &str) -> Self {
        Self::new(
            INVALID_ACCESS,
            format!("Account {account} is not subscribed to AWS Security Hub"),
        )
    }

    pub fn throttled() -> Self {
        Self::new(LIMIT_EXCEEDED, "Rate exceeded")
    }
}

/// Maps a code to its modelled status; unknown codes are client errors.
pub fn status_for(code: &str) -> StatusCode {
    match code {
        INVALID_ACCESS => StatusCode::UNAUTHORIZED,
        ACCESS_DENIED => StatusCode::FORBIDDEN,
        NOT_FOUND => StatusCode::NOT_FOUND,
        CONFLICT => StatusCode::CONFLICT,
        LIMIT_EXCEEDED | "ThrottlingException" | "TooManyRequestsException" => StatusCode::TOO_MANY_REQUESTS,
        INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceUnavailableException" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"Message": self.message, "__type": self.code});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.code) {
            response.headers_mut().insert("x-amzn-errortype", value);
        }
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}
