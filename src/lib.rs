//! ezauth: App Service Authentication ("Easy Auth") for any web server.
//!
//! The crate is loaded in-process by a host (nginx, the bundled C host) through the C ABI in
//! [`ffi`]. For every request the host asks [`pipeline::Module::begin_request`] what to do: the
//! module scrubs spoofed identity headers, authenticates the caller (session cookie, `X-ZUMO-AUTH`
//! session token or provider bearer token), serves the `/.auth/*` routes, and tells the host
//! either to continue with request-header edits or to finish with a complete response. Steps that
//! talk to an identity provider or take a user's store lock are handed back to the host as
//! blocking work so event-driven hosts can run them off their event loop (`ARCHITECTURE.md`).
//!
//! Direction of knowledge, top to bottom: `ffi` knows `pipeline`; `pipeline` knows `routes`;
//! `routes` know the [`app::App`] context and the [`reply`] helpers; those know `session`,
//! `store`, `providers`, `config`, `http`. Nothing knows a layer above it (`tests/layering.rs`),
//! nothing in the core knows C, and `store`/`crypto` know nothing of HTTP.

pub mod app;
pub mod cache;
pub mod challenge;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod ffi;
pub mod flight;
pub mod fuzzing;
pub mod headers;
pub mod http;
pub mod io;
pub mod logger;
pub mod metrics;
pub mod outbound;
pub mod paths;
pub mod pipeline;
pub mod providers;
pub mod redirect;
pub mod replay;
pub mod reply;
pub mod routes;
pub mod session;
pub mod store;

/// The version `/.auth/version` and `ezauth_version()` report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
