//! The AWS shell: the membership operations behind a small trait, their implementation
//! on aws-sdk-securityhub, the batcher that coalesces calls from many reconciles (its
//! windows, its ListMembers sweeps), the organization role per region, the client-side
//! rate limiter, the call observer, and the classification of AWS errors.

mod accept;
mod api;
mod batcher;
mod error;
mod observe;
mod organization;
mod ratelimit;
mod sdk;
mod sweep;
mod window;
mod words;

pub use accept::{AcceptOutcome, MemberSide, SdkMemberSide};
pub use api::{MemberRecord, MembershipApi, ReadResult, Unprocessed};
pub use batcher::{BatchConfig, Batcher, Promise};
pub use error::AwsError;
pub use observe::{CallObserver, observe, observe_with, outcome};
pub use organization::OrganizationRoles;
pub use ratelimit::RateLimiter;
pub use sdk::{SdkMembership, load_sdk_config};
pub use words::{classify_code, refusal};
