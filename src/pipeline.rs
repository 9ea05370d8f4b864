//! Placeholder while the core is written.
use crate::http::{Forward, Outcome, OwnedRequest, Request};
use crate::logger::Logger;
use std::path::Path;

pub struct Module {
    log: Logger,
}
#[derive(Debug)]
pub struct LoadError {
    pub unreadable: bool,
    pub message: String,
}
impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl Module {
    pub fn from_config_file(_p: &Path, log: Logger) -> Result<Module, LoadError> {
        Ok(Module { log })
    }
    pub fn log(&self) -> &Logger {
        &self.log
    }
    pub fn begin_request(&self, _r: &Request) -> Outcome {
        Outcome::Continue(Forward::default())
    }
    pub fn run_blocking(&self, _r: &OwnedRequest) -> Outcome {
        Outcome::Continue(Forward::default())
    }
    pub fn send_response(
        &self,
        _s: u16,
        _h: &[(&str, &str)],
        f: &Forward,
    ) -> Vec<(String, String)> {
        f.response_add.clone()
    }
}
