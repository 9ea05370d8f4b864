//! Log lines go to the host through a callback it registered, never to a process-global logger:
//! nginx routes them into its error log, the C host to stderr.
//!
//! A line logged while the library works on one request carries that request's tag (the
//! `log_userdata` the host put in its `ezauth_request`), so the host can write it where it
//! writes that request's lines (nginx: the request's connection log, which names the client
//! and the request). The C boundary sets the tag for the span of the one call that works on the
//! request ([`with_request`]); lines from anywhere below it (pipeline, routes, providers,
//! store) carry it without each layer passing a logger along. Work for a request runs on the
//! calling thread; a line from any other thread (the store's sweeper) has no tag and goes to
//! the module's sink as before.

use std::cell::Cell;
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

/// The host's tag for one request, opaque to the library; 0 when a line is about no request.
pub type RequestTag = usize;

type Sink = dyn Fn(Level, &str, RequestTag) + Send + Sync;

thread_local! {
    /// The tag of the request this thread is working on inside a call from the host, or 0.
    static CURRENT_REQUEST: Cell<RequestTag> = const { Cell::new(0) };
}

/// Runs `body` with the lines it logs on this thread tagged `tag`, then restores the previous
/// tag (also when `body` panics, before the panic boundary turns that into an error code).
pub fn with_request<T>(tag: RequestTag, body: impl FnOnce() -> T) -> T {
    struct Restore(RequestTag);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_REQUEST.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT_REQUEST.with(|c| c.replace(tag)));
    body()
}

/// A cheap, clonable handle to the host's log sink.
#[derive(Clone)]
pub struct Logger {
    sink: Option<Arc<Sink>>,
}

impl Logger {
    pub fn new(sink: impl Fn(Level, &str) + Send + Sync + 'static) -> Self {
        Logger {
            sink: Some(Arc::new(move |level, message: &str, _| {
                sink(level, message)
            })),
        }
    }

    /// A logger whose sink also gets the tag of the request a line is about (0: none).
    pub fn with_request_tags(
        sink: impl Fn(Level, &str, RequestTag) + Send + Sync + 'static,
    ) -> Self {
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
            sink(level, &args.to_string(), CURRENT_REQUEST.with(Cell::get));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// The lines a logger got, each with its request tag.
    type Lines = Arc<Mutex<Vec<(String, RequestTag)>>>;

    fn recording() -> (Logger, Lines) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = Logger::with_request_tags(move |_, message, tag| {
            sink.lock().unwrap().push((message.to_owned(), tag))
        });
        (log, lines)
    }

    #[test]
    fn lines_carry_the_tag_of_the_call_they_are_logged_in() {
        let (log, lines) = recording();
        log.info(format_args!("before"));
        with_request(7, || {
            log.warn(format_args!("in 7"));
            with_request(9, || log.warn(format_args!("in 9")));
            log.warn(format_args!("in 7 again"));
        });
        log.info(format_args!("after"));
        assert_eq!(
            *lines.lock().unwrap(),
            [
                ("before", 0),
                ("in 7", 7),
                ("in 9", 9),
                ("in 7 again", 7),
                ("after", 0)
            ]
            .map(|(m, t)| (m.to_owned(), t))
        );
    }

    #[test]
    fn a_panic_inside_a_call_does_not_leave_its_tag_behind() {
        let (log, lines) = recording();
        let caught = std::panic::catch_unwind(|| with_request(5, || panic!("a bug")));
        assert!(caught.is_err());
        log.info(format_args!("next"));
        assert_eq!(*lines.lock().unwrap(), [("next".to_owned(), 0)]);
    }

    #[test]
    fn other_threads_do_not_see_a_tag() {
        let (log, lines) = recording();
        with_request(3, || {
            let log = log.clone();
            std::thread::spawn(move || log.info(format_args!("elsewhere")))
                .join()
                .unwrap();
        });
        assert_eq!(*lines.lock().unwrap(), [("elsewhere".to_owned(), 0)]);
    }
}
