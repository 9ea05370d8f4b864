//! Static answers: the signed-in and signed-out landing pages and the version.

use serde_json::json;

use super::Ctx;
use crate::app::App;
use crate::http::{Outcome, Response};

pub fn login_done(_: &App, _: &Ctx) -> Outcome {
    let mut r = Response::html(200, "Signed in", "You have signed in.");
    r.body = b"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
<body><h1>Signed in</h1><p>You have signed in. <a href=\"/\">Return to the site</a>.</p></body></html>\n"
        .to_vec();
    Outcome::Finish(r)
}

pub fn logout_complete(_: &App, _: &Ctx) -> Outcome {
    Outcome::Finish(Response::html(200, "Signed out", "You have signed out."))
}

pub fn version(_: &App, _: &Ctx) -> Outcome {
    Outcome::Finish(Response::json(200, &json!({ "version": crate::VERSION })))
}
