//! The panic boundary: every export runs its body inside `catch_unwind`, so a bug in the
//! library becomes an error result instead of unwinding into (and aborting) the host.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::ezauth_result;

/// Runs `body`; a panic becomes `EZAUTH_PANIC`.
pub(crate) fn guard(body: impl FnOnce() -> ezauth_result) -> ezauth_result {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(ezauth_result::EZAUTH_PANIC)
}

/// Runs `body`; a panic becomes `fallback`. For exports that return a plain value.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}
