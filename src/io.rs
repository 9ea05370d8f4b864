//! May this step block on I/O? One notion for every layer: the host's event loop runs with
//! [`Io::CacheOnly`] (a step that would call an identity provider or a remote store stops and
//! becomes the host's blocking step), the blocking step runs with [`Io::Allowed`].

/// Whether a step may call out (identity provider, remote store) or must make do with caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// On a thread that may block: the host's blocking step.
    Allowed,
    /// On the host's event loop: caches only.
    CacheOnly,
}
