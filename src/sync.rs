//! Mutex locking that survives a panicked holder: one failed request or reconcile must not
//! stop the operator (or the emulator) from serving every other one.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering the data if a previous holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
