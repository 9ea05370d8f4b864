//! Result codes of the C ABI. Numbers are grouped by subsystem and never renumbered; a new
//! failure gets a new number.

use std::ffi::c_char;

/// The result of every fallible `ezauth_*` call. `EZAUTH_OK` is zero.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ezauth_result {
    EZAUTH_OK = 0,
    /// A required pointer argument was NULL.
    EZAUTH_NULL_PARAMETER = 1,
    /// The library hit an internal bug; the call had no effect. The host stays up.
    EZAUTH_PANIC = 2,
    /// A string argument that must be UTF-8 was not.
    EZAUTH_INVALID_UTF8 = 3,
    /// An argument was out of range (e.g. an unknown header set or index).
    EZAUTH_INVALID_PARAMETER = 4,
    /// The call does not fit the outcome's state (e.g. running blocking work twice).
    EZAUTH_WRONG_STATE = 5,
    /// The configuration file could not be read.
    EZAUTH_CONFIG_UNREADABLE = 100,
    /// The configuration is invalid; the error message names the offending field.
    EZAUTH_CONFIG_INVALID = 101,
    /// The host's workers cannot use the token store directory; the message names the
    /// directory, the user and the fix.
    EZAUTH_STORE_UNUSABLE = 102,
}

/// All codes, for tests that check every code has a name.
pub const ALL_RESULTS: [ezauth_result; 9] = [
    ezauth_result::EZAUTH_OK,
    ezauth_result::EZAUTH_NULL_PARAMETER,
    ezauth_result::EZAUTH_PANIC,
    ezauth_result::EZAUTH_INVALID_UTF8,
    ezauth_result::EZAUTH_INVALID_PARAMETER,
    ezauth_result::EZAUTH_WRONG_STATE,
    ezauth_result::EZAUTH_CONFIG_UNREADABLE,
    ezauth_result::EZAUTH_CONFIG_INVALID,
    ezauth_result::EZAUTH_STORE_UNUSABLE,
];

impl ezauth_result {
    pub fn name(self) -> &'static std::ffi::CStr {
        use ezauth_result::*;
        match self {
            EZAUTH_OK => c"EZAUTH_OK",
            EZAUTH_NULL_PARAMETER => c"EZAUTH_NULL_PARAMETER",
            EZAUTH_PANIC => c"EZAUTH_PANIC",
            EZAUTH_INVALID_UTF8 => c"EZAUTH_INVALID_UTF8",
            EZAUTH_INVALID_PARAMETER => c"EZAUTH_INVALID_PARAMETER",
            EZAUTH_WRONG_STATE => c"EZAUTH_WRONG_STATE",
            EZAUTH_CONFIG_UNREADABLE => c"EZAUTH_CONFIG_UNREADABLE",
            EZAUTH_CONFIG_INVALID => c"EZAUTH_CONFIG_INVALID",
            EZAUTH_STORE_UNUSABLE => c"EZAUTH_STORE_UNUSABLE",
        }
    }
}

/// The name of a result code as a static NUL-terminated string (e.g. `"EZAUTH_PANIC"`), or
/// `"EZAUTH_UNKNOWN"` for a number this library does not know. Never NULL; do not free.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn ezauth_result_name(result: u32) -> *const c_char {
    ALL_RESULTS
        .iter()
        .find(|r| **r as u32 == result)
        .map_or(c"EZAUTH_UNKNOWN".as_ptr(), |r| r.name().as_ptr())
}

/// A detailed error: a result code and a message for people (it names the bad configuration
/// field, for instance). Created by the library, freed by the host with `ezauth_error_free`.
pub struct ezauth_error {
    pub(crate) code: ezauth_result,
    pub(crate) message: String,
}
