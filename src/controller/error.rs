//! Controller errors; each has a stable label for metrics.

/// Why a reconcile failed (AWS failures are not errors: they end up in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
    #[error("{0} changed since it was read; planning again from the fresh object")]
    Stale(String),
    #[error("clean-up not finished: {0}")]
    CleanupPending(String),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// A failed status write: 409 means the object moved on since it was read.
    pub fn from_write(e: kube::Error, name: &str) -> Self {
        match e {
            kube::Error::Api(ref response) if response.code == 409 => Self::Stale(name.to_string()),
            e => Self::Kube(e),
        }
    }

    /// A stable lower-case label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            Self::Journal(_) => "journal",
            Self::Stale(_) => "stale",
            Self::CleanupPending(_) => "cleanup_pending",
            Self::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => {
                    e.metric_label()
                }
                _ => "finalizer",
            },
        }
    }
}
