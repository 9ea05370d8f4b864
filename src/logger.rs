//! Log lines go to the host through a callback it registered, never to a process-global logger:
//! nginx routes them into its error log, the C host to stderr.

use std::fmt;
use std::sync::Arc;

/// Severity of a log line; the numbers are part of the C ABI (`ezauth_log_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

type Sink = dyn Fn(Level, &str) + Send + Sync;

/// A cheap, clonable handle to the host's log sink.
#[derive(Clone)]
pub struct Logger {
    sink: Option<Arc<Sink>>,
}

impl Logger {
    pub fn new(sink: impl Fn(Level, &str) + Send + Sync + 'static) -> Self {
        Logger {
            sink: Some(Arc::new(sink)),
        }
    }

    /// A logger that drops every line (benchmarks, tools that have nothing to say).
    pub fn silent() -> Self {
        Logger { sink: None }
    }

    /// A logger writing to stderr, for the CLI.
    pub fn stderr() -> Self {
        Logger::new(|level, msg| eprintln!("ezauth [{level:?}] {msg}"))
    }

    pub fn log(&self, level: Level, args: fmt::Arguments<'_>) {
        if let Some(sink) = &self.sink {
            sink(level, &args.to_string());
        }
    }

    pub fn error(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Error, args)
    }
    pub fn warn(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Warn, args)
    }
    pub fn info(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Info, args)
    }
    /// Details (user names, dropped parameters): hosts show them only when asked to.
    pub fn debug(&self, args: fmt::Arguments<'_>) {
        self.log(Level::Debug, args)
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Logger")
    }
}
