//! Ownership of the C handles, in one place. Each opaque C type names the Rust type behind it
//! and how it is owned: a module is shared (`Arc`: the host's handle and every outcome made
//! from it each hold a reference), an outcome is unique (`Box`: one request). Pointers from C
//! become Rust references only through these functions.

use std::sync::Arc;

/// A C handle whose pointer is an `Arc<Self::Rust>` turned into a raw pointer.
pub(super) trait ArcHandle: Sized {
    type Rust;

    /// Gives C a new reference to `value`.
    fn into_ptr(value: Arc<Self::Rust>) -> *mut Self {
        Arc::into_raw(value) as *mut Self
    }

    /// Borrows the value behind a handle; `None` for NULL.
    ///
    /// SAFETY: `ptr` is NULL or came from `into_ptr` and its reference is not released yet.
    unsafe fn as_ref<'a>(ptr: *const Self) -> Option<&'a Self::Rust> {
        (ptr as *const Self::Rust).as_ref()
    }

    /// A new reference to the value behind a handle (for an outcome to keep); `None` for NULL.
    ///
    /// SAFETY: as `as_ref`.
    unsafe fn clone_arc(ptr: *const Self) -> Option<Arc<Self::Rust>> {
        if ptr.is_null() {
            return None;
        }
        Arc::increment_strong_count(ptr as *const Self::Rust);
        Some(Arc::from_raw(ptr as *const Self::Rust))
    }

    /// Drops C's reference; NULL does nothing.
    ///
    /// SAFETY: `ptr` is NULL or came from `into_ptr`, and is released exactly once.
    unsafe fn release(ptr: *mut Self) {
        if !ptr.is_null() {
            drop(Arc::from_raw(ptr as *const Self::Rust));
        }
    }
}

/// A C handle whose pointer is a `Box<Self::Rust>` turned into a raw pointer.
pub(super) trait BoxHandle: Sized {
    type Rust;

    /// Gives C ownership of `value`.
    fn into_ptr(value: Box<Self::Rust>) -> *mut Self {
        Box::into_raw(value) as *mut Self
    }

    /// SAFETY: `ptr` is NULL or came from `into_ptr` and is not freed yet; no `as_mut` borrow of
    /// it is in use (the header's "one thread at a time").
    unsafe fn as_ref<'a>(ptr: *const Self) -> Option<&'a Self::Rust> {
        (ptr as *const Self::Rust).as_ref()
    }

    /// SAFETY: as `as_ref`, and no other borrow of it is in use.
    unsafe fn as_mut<'a>(ptr: *mut Self) -> Option<&'a mut Self::Rust> {
        (ptr as *mut Self::Rust).as_mut()
    }

    /// Takes ownership back and drops it; NULL does nothing.
    ///
    /// SAFETY: `ptr` is NULL or came from `into_ptr`, and is freed exactly once.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            drop(Box::from_raw(ptr as *mut Self::Rust));
        }
    }
}
