//! AWS errors reduced to what the operator needs: a class that says whether waiting helps,
//! the AWS error code, and AWS's message (never credentials).

use aws_sdk_securityhub::config::http::HttpResponse;
use aws_sdk_securityhub::error::{ProvideErrorMetadata, SdkError};

use super::words::classify_code;
use crate::plan::{ActionKind, ErrorClass, Failure};

/// A failed AWS call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub class: ErrorClass,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(class: ErrorClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            class,
            code: code.into(),
            message: message.into(),
        }
    }

    /// What a caller of a failed `kind` call learns.
    pub fn into_failure(self, kind: ActionKind) -> Failure {
        Failure::Aws {
            kind,
            class: self.class,
            code: self.code,
            message: self.message,
        }
    }

    /// Reduces any SDK error; `E` is the operation's error type.
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let e = service.err();
                let code = e.code().unwrap_or("").to_string();
                let message = e.message().unwrap_or("").to_string();
                if code.is_empty() {
                    return Self::without_code(status, message);
                }
                Self::new(classify_code(&code, &message, status), code, message)
            }
            SdkError::TimeoutError(_) => Self::new(ErrorClass::Transient, "Timeout", "the request to AWS timed out"),
            SdkError::ResponseError(e) => {
                let status = e.raw().status().as_u16();
                let message = format!("unreadable answer (HTTP {status})");
                let class = if status >= 500 {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Other
                };
                Self::new(class, "ResponseError", message)
            }
            other => {
                let text = error_chain(other);
                if text.to_ascii_lowercase().contains("credential") {
                    Self::new(ErrorClass::Credentials, "CredentialsError", text)
                } else {
                    Self::new(ErrorClass::Transient, "DispatchFailure", text)
                }
            }
        }
    }

    /// An error response without an AWS error code: a proxy page, or an endpoint (moto)
    /// answering 404 for an operation it does not implement.
    fn without_code(status: u16, message: String) -> Self {
        let message = if message.is_empty() {
            format!("HTTP {status} without an AWS error code")
        } else {
            message
        };
        match status {
            404 | 405 | 501 => Self::new(ErrorClass::Unsupported, format!("HTTP{status}"), message),
            429 => Self::new(ErrorClass::Throttled, "HTTP429", message),
            s if s >= 500 => Self::new(ErrorClass::Transient, format!("HTTP{status}"), message),
            _ => Self::new(ErrorClass::Other, format!("HTTP{status}"), message),
        }
    }
}

/// The error and its sources on one line: SDK dispatch errors hide the cause in the chain.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify_by_code_not_status() {
        let cases = [
            ("LimitExceededException", "Rate exceeded", 429, ErrorClass::Throttled),
            ("LimitExceededException", "", 400, ErrorClass::Throttled),
            ("AccessDeniedException", "", 403, ErrorClass::AccessDenied),
            (
                "InvalidAccessException",
                "Account 111122223333 is not subscribed to AWS Security Hub",
                401,
                ErrorClass::NotSubscribed,
            ),
            (
                "InvalidAccessException",
                "something else",
                401,
                ErrorClass::AccessDenied,
            ),
            ("InvalidInputException", "", 400, ErrorClass::InvalidInput),
            ("InternalException", "", 500, ErrorClass::Transient),
            ("ExpiredTokenException", "", 400, ErrorClass::Credentials),
            ("BadRequestException", "", 400, ErrorClass::Other),
            ("SomethingNew", "", 503, ErrorClass::Transient),
        ];
        for (code, message, status, class) in cases {
            assert_eq!(classify_code(code, message, status), class, "{code} {status}");
        }
    }

    #[test]
    fn codeless_answers_classify_by_status() {
        assert_eq!(
            AwsError::without_code(404, String::new()).class,
            ErrorClass::Unsupported
        );
        assert_eq!(
            AwsError::without_code(502, "<html>".into()).class,
            ErrorClass::Transient
        );
        assert_eq!(AwsError::without_code(429, String::new()).class, ErrorClass::Throttled);
        assert!(AwsError::without_code(400, String::new()).message.contains("400"));
    }
}
