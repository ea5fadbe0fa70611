//! AWS's words: every text the operator reads a meaning into — ProcessingResults, error
//! codes and messages — read here and nowhere else, each against the text AWS (or the
//! emulator, standing in for it) was recorded answering. The planner sees only the meaning
//! ([`Refusal`], [`ErrorClass`]).

use crate::plan::{ErrorClass, Refusal};

/// What a ProcessingResult (an `UnprocessedAccounts` entry) refuses, as far as a decision
/// depends on it.
pub fn refusal(result: &str) -> Refusal {
    let text = result.to_ascii_lowercase();
    let has = |words: &str| text.contains(words);
    if has("already a member") {
        Refusal::AlreadyMember
    } else if has("maximum number of results exceeded") {
        Refusal::Overflow
    } else if has("already invited") {
        Refusal::AlreadyInvited
    } else if has("another administrator") || has("other administrator") || has("master") {
        Refusal::OtherAdministrator
    } else if has("member of itself") {
        Refusal::OwnAccount
    } else if has("maximum number of allowed members") || has("cannot create anymore members") {
        Refusal::MemberLimit
    } else if has("organization") {
        Refusal::OrganizationAccount
    } else {
        Refusal::Other
    }
}

/// GetMembers failing as a whole because one named account is not a member (real AWS does
/// this for a deleted member); each account is then read on its own.
pub fn is_missing_member_error(code: &str) -> bool {
    code == "BadRequestException"
}

/// DescribeOrganizationConfiguration's refusal for an administrator that has no organization.
pub fn is_not_organization_administrator(code: &str, message: &str) -> bool {
    code == "InvalidAccessException" && message.to_ascii_lowercase().contains("not an administrator")
}

/// Security Hub is off in the calling account (InvalidAccessException "not subscribed").
pub fn is_not_subscribed(code: &str, message: &str) -> bool {
    code == "InvalidAccessException" && message.to_ascii_lowercase().contains("not subscribed")
}

/// Classifies by AWS error code first (real AWS does not always use the modelled status).
pub fn classify_code(code: &str, message: &str, status: u16) -> ErrorClass {
    match code {
        "LimitExceededException"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "Throttling"
        | "RequestLimitExceeded" => ErrorClass::Throttled,
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => ErrorClass::AccessDenied,
        "InvalidAccessException" if is_not_subscribed(code, message) => ErrorClass::NotSubscribed,
        "InvalidAccessException" => ErrorClass::AccessDenied,
        "InvalidInputException" | "ValidationException" | "SerializationException" => ErrorClass::InvalidInput,
        "InternalException" | "InternalFailure" | "ServiceUnavailable" | "InternalServerError" => ErrorClass::Transient,
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredTokenException"
        | "ExpiredToken"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken" => ErrorClass::Credentials,
        _ if status >= 500 => ErrorClass::Transient,
        _ => ErrorClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each ProcessingResult as AWS (confirmed) or the emulator (modelled on AWS) words it.
    #[test]
    fn every_recorded_processing_result_has_its_meaning() {
        let table = [
            (
                "The request is rejected because the given account ID is already a member or associated member of the current account.",
                Refusal::AlreadyMember,
            ),
            ("Maximum number of results exceeded", Refusal::Overflow),
            (
                "The request is rejected because the current account has already invited or is already the SecurityHub master of the given member account.",
                Refusal::AlreadyInvited,
            ),
            (
                "The request is rejected because the given account is already associated with another administrator account.",
                Refusal::OtherAdministrator,
            ),
            ("Account is a member of another master", Refusal::OtherAdministrator),
            (
                "The request is rejected because an account cannot become a member of itself.",
                Refusal::OwnAccount,
            ),
            (
                "The request is rejected because the current account cannot create anymore members since it cannot exceed the maximum number of allowed members.",
                Refusal::MemberLimit,
            ),
            (
                "The request is rejected because organization member accounts do not receive invitations.",
                Refusal::OrganizationAccount,
            ),
            (
                "The request is rejected because organization member accounts cannot be deleted; disassociate them instead.",
                Refusal::OrganizationAccount,
            ),
            (
                "The request is rejected because the given account is an administrator account with members and cannot become a member.",
                Refusal::Other,
            ),
            ("The request is rejected since no such resource found.", Refusal::Other),
            (
                "The request is rejected because the member account is still associated with the current account; disassociate it before deleting it.",
                Refusal::Other,
            ),
            ("AWS gave no ProcessingResult", Refusal::Other),
        ];
        for (text, meaning) in table {
            assert_eq!(refusal(text), meaning, "{text}");
        }
    }

    #[test]
    fn recorded_error_texts_have_their_meaning() {
        assert!(is_missing_member_error("BadRequestException"));
        assert!(!is_missing_member_error("InvalidInputException"));
        let org = "Account 111111111111 is not an administrator for this organization";
        assert!(is_not_organization_administrator("InvalidAccessException", org));
        assert!(!is_not_organization_administrator("AccessDeniedException", org));
        let off = "Account 111111111111 is not subscribed to AWS Security Hub";
        assert!(is_not_subscribed("InvalidAccessException", off));
        assert!(!is_not_organization_administrator("InvalidAccessException", off));
        assert_eq!(
            classify_code("InvalidAccessException", off, 401),
            ErrorClass::NotSubscribed
        );
        assert_eq!(
            classify_code("InvalidAccessException", org, 401),
            ErrorClass::AccessDenied
        );
    }
}
