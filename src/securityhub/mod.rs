//! The AWS shell: the membership operations behind a small trait, their implementation
//! on aws-sdk-securityhub, the batcher that coalesces calls from many reconciles, the
//! client-side rate limiter, and the classification of AWS errors.

mod accept;
mod api;
mod batcher;
mod error;
mod organization;
mod ratelimit;
mod sdk;
mod sweep;

pub use accept::{AcceptOutcome, MemberSide, SdkMemberSide};
pub use api::{MemberRecord, MembershipApi, ReadResult, Unprocessed};
pub use batcher::{BatchConfig, Batcher, CallObserver, Promise};
pub use error::{AwsError, classify_code};
pub use ratelimit::RateLimiter;
pub use sdk::{SdkMembership, load_sdk_config};
