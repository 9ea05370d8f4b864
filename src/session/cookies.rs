//! The session cookie in the browser: its names, reading it back from a `Cookie` header that may
//! also carry cookies another host planted, and deleting it together with the planted variants.
//!
//! **Cookie tossing.** Any host under a parent domain (`evil.example.com` beside
//! `app.example.com`) may set a cookie with `Domain=example.com` and any `Path`, and the browser
//! then sends it to us under our cookie's name. The `Cookie` header does not say which cookie is
//! host-only (ours): browsers send cookies with longer paths first, then older ones first, and a
//! planter chooses both. Two defences:
//!
//! - the opt-in `__Host-` prefix ([`CookieNames`]): browsers accept such a cookie only when it is
//!   `Secure`, has `Path=/` and no `Domain`, so no other host can set it at all;
//! - with App Service's names, [`SessionCookies::resolve`] does not trust the order: it tries the
//!   combinations of the values it got (bounded), keeps what opens, and refuses to choose
//!   between two different sessions; and every deletion also names the `Domain` (and, when a
//!   name came twice, `Path`) variants a planter could have used.

use crate::http::{self, Request};

/// App Service's session cookie name; the numbered parts of a large session append 1, 2, ...
pub const COOKIE_NAME: &str = "AppServiceAuthSession";
/// Bytes of cookie value per cookie; browsers keep at least 4096 bytes per cookie. Every part
/// of a session but the last is exactly this long, which tells junk from a part quickly.
pub const CHUNK_SIZE: usize = 3800;
/// A session never spans more cookies than this; more is an attack or a bug.
pub const MAX_CHUNKS: usize = 8;
/// Values of one part name considered per request (distinct ones): ours, and a planted one or
/// two. More are ignored: each one multiplies the combinations to try.
const MAX_VALUES_PER_PART: usize = 3;
/// Combinations opened (base64 + AES-GCM + JSON) per request at most, so a planter cannot make
/// one request cost more than a few dozen microseconds of decryption.
pub const MAX_OPEN_ATTEMPTS: usize = 16;
/// `Set-Cookie` lines one deletion writes at most (a few KB of headers).
pub const MAX_DELETES: usize = 32;
/// Parent domains a deletion names at most (the nearest to the registrable domain first).
const MAX_DOMAIN_VARIANTS: usize = 4;
/// Ancestors of the request path a deletion names at most, and their length.
const MAX_PATH_VARIANTS: usize = 6;
const MAX_PATH_VARIANT_LEN: usize = 200;
/// How long after a sign-in a request without a usable session counts as "the sign-in did not
/// stick" (the browser follows the callback's redirect within a second).
pub const SIGNED_IN_WINDOW: i64 = 60;

/// The names of the module's cookies: App Service's by default; with `ezauth.cookies.hostPrefix`
/// `__Host-` + App Service's. Browsers keep a `__Host-` cookie only when it is `Secure`, has
/// `Path=/` and no `Domain`: no other host, a sibling subdomain included, can set or shadow it.
/// Every cookie the module writes under these names then follows those rules.
///
/// It also carries the `SameSite` rule of those cookies (`ezauth.cookieSameSite`), so every
/// `Set-Cookie` the module writes, deletions included, follows one policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CookieNames {
    host_prefix: bool,
    same_site: SameSite,
}

/// The `SameSite` attribute of the module's cookies (`ezauth.cookieSameSite`).
///
/// - `Lax` (default): sent on same-site requests and on top-level `GET` navigations from other
///   sites; not on cross-site `POST`s, iframes or subresources. The first CSRF defence.
/// - `Strict`: not even on a top-level navigation from another site (a link in a mail arrives
///   signed out). The login-state cookie stays `Lax` (the provider's redirect back is such a
///   navigation), and the callback ends on a same-origin page that moves on, so the first page
///   after sign-in (reached through the provider's cross-site redirect chain) gets the session.
/// - `None`: sent in every context, an app in another site's iframe included (App Service's
///   own choice). Browsers require `Secure` with it, so the configuration requires https; the
///   CSRF check of unsafe methods (`Origin`/`Referer`/`Sec-Fetch-Site`) is then the only
///   defence against cross-site form posts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SameSite {
    #[default]
    Lax,
    Strict,
    None,
}

impl SameSite {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

impl CookieNames {
    pub const APP_SERVICE: CookieNames = CookieNames {
        host_prefix: false,
        same_site: SameSite::Lax,
    };
    pub const HOST_PREFIXED: CookieNames = CookieNames {
        host_prefix: true,
        same_site: SameSite::Lax,
    };

    pub fn new(host_prefix: bool) -> CookieNames {
        CookieNames {
            host_prefix,
            same_site: SameSite::Lax,
        }
    }

    /// The same names, with `same_site` for every cookie written under them.
    pub fn with_same_site(self, same_site: SameSite) -> CookieNames {
        CookieNames { same_site, ..self }
    }

    pub fn same_site(self) -> SameSite {
        self.same_site
    }

    /// `SameSite` of the login-state cookie: `Lax` unless `None` is configured. `Strict` would
    /// keep it from the provider's redirect back (a cross-site navigation): no sign-in at all.
    pub fn login_state_same_site(self) -> SameSite {
        match self.same_site {
            SameSite::None => SameSite::None,
            SameSite::Lax | SameSite::Strict => SameSite::Lax,
        }
    }

    /// A `Set-Cookie` value under these rules (`Secure` as [`CookieNames::secure`] says).
    pub fn set_cookie(
        self,
        name: &str,
        value: &str,
        path: &str,
        max_age: i64,
        https: bool,
    ) -> String {
        http::set_cookie(
            name,
            value,
            path,
            max_age,
            self.secure(https),
            self.same_site,
        )
    }

    pub fn host_prefix(self) -> bool {
        self.host_prefix
    }

    /// The session cookie (its first part).
    pub fn session(self) -> &'static str {
        if self.host_prefix {
            "__Host-AppServiceAuthSession"
        } else {
            COOKIE_NAME
        }
    }

    /// Part `i` of the session cookie: the first has no number.
    pub fn session_part(self, i: usize) -> String {
        if i == 0 {
            self.session().to_owned()
        } else {
            format!("{}{i}", self.session())
        }
    }

    /// Login-state cookies are this prefix and the start of their `state`.
    pub fn login_state_prefix(self) -> &'static str {
        if self.host_prefix {
            "__Host-AppServiceAuthLogin_"
        } else {
            "AppServiceAuthLogin_"
        }
    }

    /// The short-lived marker of a sign-in that just completed (see [`signed_in_marker`]).
    pub fn signed_in(self) -> &'static str {
        if self.host_prefix {
            "__Host-AppServiceAuthLoginDone"
        } else {
            "AppServiceAuthLoginDone"
        }
    }

    /// The `Secure` flag of a cookie written for a request over https or not: always with the
    /// prefix or `SameSite=None` (browsers drop such a cookie without it; the configuration
    /// requires https for both).
    pub fn secure(self, https: bool) -> bool {
        https || self.host_prefix || self.same_site == SameSite::None
    }

    /// The path of login-state cookies: under the API prefix, so the application never sees
    /// them; `/` with the prefix, which `__Host-` requires.
    pub fn login_state_path(self, api_prefix: &str) -> String {
        if self.host_prefix {
            "/".to_owned()
        } else {
            format!("{api_prefix}/")
        }
    }
}

/// Why a presented credential was not accepted (for the log line).
#[derive(Debug, PartialEq)]
pub struct Rejected(pub String);

/// What the request's session cookies amount to.
#[derive(Debug)]
pub enum Found<T> {
    /// No session cookie at all.
    None,
    /// Exactly one session opened, from the first `parts` parts; values it could not use
    /// (junk, another app's, expired, signed out, planted) were ignored.
    One { session: T, parts: usize },
    /// Session cookies were sent, but no combination of them opens: the last reason.
    Unusable(Rejected),
    /// Two different sessions opened (or too many variants to try them all): the request is
    /// not signed in, see [`SessionCookies::resolve`].
    Ambiguous { sessions: Vec<T>, why: String },
}

/// The session cookies of one request, by part: the distinct values of each part name, in the
/// order the browser sent them, and what else the request carried under those names.
#[derive(Debug)]
pub struct SessionCookies<'a> {
    names: CookieNames,
    parts: [[Option<&'a str>; MAX_VALUES_PER_PART]; MAX_CHUNKS],
    /// How often each part name occurred (any value).
    seen: [u8; MAX_CHUNKS],
    /// Some part has two or more distinct values to choose from.
    choices: bool,
    /// Values that cannot be a part (not base64url, empty, too long).
    unusable: usize,
    /// Some part had more distinct values than [`MAX_VALUES_PER_PART`].
    overflow: bool,
    /// The request carries the signed-in marker.
    marker: bool,
}

impl<'a> SessionCookies<'a> {
    /// Sorts the request's cookies of the session names. Names that only start like ours
    /// (`AppServiceAuthSession9`, `AppServiceAuthSessionX`) are not ours: ignored, not refused,
    /// so a planted one cannot fail a session. With the `__Host-` prefix the unprefixed names
    /// are ignored too: anyone under the parent domain can set those.
    pub fn parse(req: &Request<'a>, names: CookieNames) -> SessionCookies<'a> {
        let mut out = SessionCookies {
            names,
            parts: [[None; MAX_VALUES_PER_PART]; MAX_CHUNKS],
            seen: [0; MAX_CHUNKS],
            choices: false,
            unusable: 0,
            overflow: false,
            marker: false,
        };
        let base = names.session();
        for (name, value) in req.cookies() {
            if name == names.signed_in() {
                out.marker = true;
                continue;
            }
            let Some(index) = name.strip_prefix(base).and_then(part_index) else {
                continue;
            };
            out.seen[index] = out.seen[index].saturating_add(1);
            if !usable_part(value) {
                out.unusable += 1;
                continue;
            }
            let slot = &mut out.parts[index];
            if slot.iter().flatten().any(|v| *v == value) {
                continue;
            }
            match slot.iter().position(Option::is_none) {
                Some(free) => {
                    out.choices |= free > 0;
                    slot[free] = Some(value);
                }
                None => out.overflow = true,
            }
        }
        out
    }

    /// Did the request carry any cookie of the session's names?
    pub fn present(&self) -> bool {
        self.seen.iter().any(|n| *n > 0)
    }

    /// Did some part name occur more than once (a planted variant beside ours)?
    pub fn duplicates(&self) -> bool {
        self.seen.iter().any(|n| *n > 1)
    }

    /// How many parts a session in this request could span (highest part named, plus one).
    pub fn part_count(&self) -> usize {
        self.seen.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1)
    }

    /// Finds the session among the request's cookies. `open` opens one candidate value (the
    /// parts joined) or says why not; `same` tells whether two opened values are one sign-in.
    ///
    /// A session written as `k` parts is parts `0..k`, each but the last exactly
    /// [`CHUNK_SIZE`] long; so the candidates are, for each length, one value per part of the
    /// right size. Longer combinations are tried first (what was written last is complete),
    /// each in the order the browser sent the values.
    ///
    /// Without a choice (each part has at most one value) the first combination that opens is
    /// the session: a prefix of a sealed value never opens, so no other can. A junk or stale
    /// extra part (`AppServiceAuthSession1=junk` beside a one-part session) is then skipped
    /// without an attempt when its size cannot fit, or fails to open, and costs the user
    /// nothing.
    ///
    /// With a choice, every combination is opened (at most [`MAX_OPEN_ATTEMPTS`]) and the
    /// outcome is decided on all of them, never on the order: the order is the planter's to
    /// choose (a longer `Path` is sent first), and nothing in the header says which cookie is
    /// host-only. Values that do not open (junk, another key or app, expired, signed out) are
    /// ignored: they cannot be a session, so a planted junk part never fails a good one. If two
    /// *different* sessions open, one of them was planted, and the other may be the planter's
    /// own valid session (session fixation: the victim would act as the attacker, and what
    /// they type would go to the attacker's account). Picking either one could pick the
    /// attacker, so the request is [`Found::Ambiguous`]: the caller treats it as anonymous,
    /// logs both, and deletes every variant, after which the user signs in again to a clean
    /// jar. The same holds when the attempts run out before all combinations were tried: an
    /// untried one could be the second session.
    pub fn resolve<T>(
        &self,
        mut open: impl FnMut(&str) -> Result<T, Rejected>,
        same: impl Fn(&T, &T) -> bool,
    ) -> Found<T> {
        if !self.present() {
            return Found::None;
        }
        if self.overflow {
            // Dropping values would let the planter decide which one is dropped (theirs are
            // sent first): none is chosen.
            return Found::Ambiguous {
                sessions: Vec::new(),
                why: format!(
                    "more than {MAX_VALUES_PER_PART} values of one session cookie part (planted \
                     variants?); none chosen"
                ),
            };
        }
        // The usual request: one value of one part, nothing to choose.
        if !self.choices && self.part_count() == 1 {
            if let Some(value) = self.parts[0][0] {
                return match open(value) {
                    Ok(session) => Found::One { session, parts: 1 },
                    Err(why) => Found::Unusable(why),
                };
            }
        }
        let mut attempts = 0;
        let mut opened: Vec<(T, usize)> = Vec::new();
        let mut last_error = None;
        let mut joined = String::new();
        'lengths: for len in (1..=self.part_count()).rev() {
            // The values of each part that fit a session of `len` parts.
            let mut options: [[Option<&str>; MAX_VALUES_PER_PART]; MAX_CHUNKS] =
                [[None; MAX_VALUES_PER_PART]; MAX_CHUNKS];
            let mut counts = [0usize; MAX_CHUNKS];
            for i in 0..len {
                for v in self.parts[i].iter().flatten() {
                    let fits = if i + 1 < len {
                        v.len() == CHUNK_SIZE
                    } else {
                        v.len() <= CHUNK_SIZE
                    };
                    if fits {
                        options[i][counts[i]] = Some(v);
                        counts[i] += 1;
                    }
                }
                if counts[i] == 0 {
                    continue 'lengths;
                }
            }
            // Every combination: an odometer over the parts' options.
            let mut pick = [0usize; MAX_CHUNKS];
            loop {
                if attempts == MAX_OPEN_ATTEMPTS {
                    let sessions = opened.into_iter().map(|(s, _)| s).collect();
                    return Found::Ambiguous {
                        sessions,
                        why: format!(
                            "more than {MAX_OPEN_ATTEMPTS} combinations of session cookie parts \
                             (planted variants?); none chosen"
                        ),
                    };
                }
                attempts += 1;
                let value = if len == 1 {
                    options[0][pick[0]].unwrap_or_default()
                } else {
                    joined.clear();
                    for (part, at) in options.iter().zip(pick).take(len) {
                        joined.push_str(part[at].unwrap_or_default());
                    }
                    joined.as_str()
                };
                match open(value) {
                    Ok(session) => {
                        if !opened.iter().any(|(o, _)| same(o, &session)) {
                            opened.push((session, len));
                        }
                        if !self.choices {
                            break 'lengths;
                        }
                    }
                    Err(e) => last_error = Some(e),
                }
                // Next combination, last part fastest.
                let mut k = len;
                loop {
                    if k == 0 {
                        continue 'lengths;
                    }
                    k -= 1;
                    pick[k] += 1;
                    if pick[k] < counts[k] {
                        break;
                    }
                    pick[k] = 0;
                }
            }
        }
        match opened.len() {
            0 => Found::Unusable(last_error.unwrap_or_else(|| {
                Rejected(format!(
                    "no complete session cookie: parts {} (each part but the last is {CHUNK_SIZE} bytes)",
                    self.describe_parts()
                ))
            })),
            1 => {
                let (session, parts) = opened.pop().expect("one");
                Found::One { session, parts }
            }
            _ => Found::Ambiguous {
                sessions: opened.into_iter().map(|(s, _)| s).collect(),
                why: "two different sessions in the session cookies (one was planted: cookie \
                      tossing from a sibling domain?); none chosen"
                    .into(),
            },
        }
    }

    /// `name×count(len,len)`, for a log line: which parts came, how often, how long.
    fn describe_parts(&self) -> String {
        let mut out = Vec::new();
        for (i, n) in self.seen.iter().enumerate().filter(|(_, n)| **n > 0) {
            let lens: Vec<String> = self.parts[i]
                .iter()
                .flatten()
                .map(|v| v.len().to_string())
                .collect();
            out.push(format!("{i}×{n}({})", lens.join(",")));
        }
        out.join(" ")
    }

    /// `Set-Cookie` deletions of every variant of the session cookie this request may carry,
    /// and of the signed-in marker: host-only at `/` for each part it named (at least the
    /// first); unless prefixed, the same with `Domain=` the host and each parent domain; and,
    /// when a name came twice, at each ancestor of the request path too (a planted cookie may
    /// carry a longer `Path`, and only a deletion with the same domain and path removes it).
    /// At most [`MAX_DELETES`] lines, the likeliest variants first.
    pub fn clear_all(&self, host: &str, path: &str, secure: bool) -> Vec<String> {
        let names = self.names_to_delete(0, true);
        let mut d = Deletes::new(self.names, secure);
        for name in &names {
            d.push(name, None, "/");
        }
        self.delete_variants(&mut d, &names, host, path, true);
        d.out
    }

    /// After a session opened from the first `used` parts: deletions of what else the request
    /// carried under the session's names (a planted or stale part, a junk duplicate, the
    /// signed-in marker), never of the host-only cookies that made the session. Nothing (no
    /// allocation) in the usual case of a request with just its own session.
    pub fn clear_unused(&self, used: usize, host: &str, path: &str, secure: bool) -> Vec<String> {
        let stale_parts = self.seen[used..].iter().any(|n| *n > 0);
        let planted = self.duplicates() || self.unusable > 0 || stale_parts;
        if !planted && !self.marker {
            return Vec::new();
        }
        let mut d = Deletes::new(self.names, secure);
        if self.marker {
            d.push(self.names.signed_in(), None, "/");
        }
        if !planted {
            return d.out;
        }
        for (i, n) in self.seen.iter().enumerate().skip(used) {
            if *n > 0 {
                d.push(&self.names.session_part(i), None, "/");
            }
        }
        // `Domain=` this very host is left out here: RFC 6265 (unlike browsers) would let it
        // replace the host-only cookie that just made the session.
        let names = self.names_to_delete(0, false);
        self.delete_variants(&mut d, &names, host, path, false);
        d.out
    }

    /// Deletions of the planted variants only (`Domain=`, and `Path=` when a name came twice)
    /// of the session's names this request carried: sent before a new session cookie is
    /// written (at the callback, on refresh), so the cookie just written is the only one left.
    /// Nothing when the request carried no session cookie.
    pub fn clear_planted(&self, host: &str, path: &str, secure: bool) -> Vec<String> {
        if !self.present() {
            return Vec::new();
        }
        let mut d = Deletes::new(self.names, secure);
        let names = self.names_to_delete(0, false);
        self.delete_variants(&mut d, &names, host, path, true);
        d.out
    }

    /// The session part names the request carried from part `from` on (at least the first),
    /// and the marker when `marker` and present.
    fn names_to_delete(&self, from: usize, marker: bool) -> Vec<String> {
        let mut names: Vec<String> = (from..MAX_CHUNKS)
            .filter(|i| self.seen[*i] > 0 || *i == 0)
            .map(|i| self.names.session_part(i))
            .collect();
        if marker && self.marker {
            names.push(self.names.signed_in().to_owned());
        }
        names
    }

    /// `Domain=` variants at `/`, then (when a name came twice) at the path's ancestors.
    /// None with the `__Host-` prefix: browsers refuse `Domain` on such a cookie, and no other
    /// host could have set one.
    fn delete_variants(
        &self,
        d: &mut Deletes,
        names: &[String],
        host: &str,
        path: &str,
        with_self: bool,
    ) {
        if self.names.host_prefix() {
            return;
        }
        let domains = domain_variants(host, with_self);
        for domain in &domains {
            for name in names {
                d.push(name, Some(domain), "/");
            }
        }
        if self.duplicates() {
            for p in path_variants(path) {
                for domain in &domains {
                    for name in names {
                        d.push(name, Some(domain), p);
                    }
                }
            }
        }
    }
}

/// `1`..`7` after the base name: a part's number (no sign, no leading zero); `""` is part 0.
fn part_index(rest: &str) -> Option<usize> {
    if rest.is_empty() {
        return Some(0);
    }
    if rest.len() > 1 || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
        return None;
    }
    rest.parse::<usize>().ok().filter(|i| *i < MAX_CHUNKS)
}

/// Could this be one part of a sealed session? 1 to [`CHUNK_SIZE`] characters. The alphabet is
/// left to the opener (the session cache compares the whole value, base64 decoding refuses
/// anything else, both before any decryption): scanning every byte here as well cost more
/// than the rest of a signed-in request.
fn usable_part(value: &str) -> bool {
    !value.is_empty() && value.len() <= CHUNK_SIZE
}

/// The host without its port; `None` for an IP literal (cookies of an IP have no domains).
fn host_name(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        return None;
    }
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    Some(name)
}

/// The domains a planted cookie this host receives can carry: each parent domain of at least
/// two labels (`example.com` for `app.example.com`), the farthest first, where siblings plant;
/// then, when `with_self`, the host itself, where hosts below it plant. A public suffix among
/// them (`co.uk`) is harmless: browsers ignore a `Domain` that is one. None for IP literals.
fn domain_variants(host: &str, with_self: bool) -> Vec<&str> {
    let Some(name) = host_name(host) else {
        return Vec::new();
    };
    let mut out: Vec<&str> = name
        .match_indices('.')
        .map(|(i, _)| &name[i + 1..])
        .filter(|parent| parent.contains('.'))
        .collect();
    out.reverse();
    out.truncate(MAX_DOMAIN_VARIANTS - usize::from(with_self));
    if with_self && name.contains('.') {
        out.push(name);
    }
    out
}

/// The parent domains of the host a cookie could be planted under, farthest first
/// (`example.com` for `app.example.com`); none for an IP literal or a single label.
pub fn parent_domains(host: &str) -> Vec<&str> {
    domain_variants(host, false)
}

/// The paths other than `/` a cookie sent with a request to `path` can have: each ancestor at
/// a segment boundary, with and without its trailing `/` (`/a`, `/a/`, `/a/b` for `/a/b`),
/// shortest first. Only printable ASCII without `;` or `,` (the value goes into a `Set-Cookie`
/// attribute), at most [`MAX_PATH_VARIANTS`].
fn path_variants(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    if !path.starts_with('/') {
        return out;
    }
    let safe = |p: &str| {
        p.len() <= MAX_PATH_VARIANT_LEN
            && p.bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
    };
    let ends = path
        .match_indices('/')
        .skip(1)
        .flat_map(|(i, _)| [i, i + 1])
        .chain(std::iter::once(path.len()));
    for end in ends {
        let p = &path[..end];
        if out.len() == MAX_PATH_VARIANTS || !safe(p) {
            break;
        }
        if p != "/" && out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Deletion lines, at most [`MAX_DELETES`].
struct Deletes {
    out: Vec<String>,
    names: CookieNames,
    https: bool,
}

impl Deletes {
    fn new(names: CookieNames, https: bool) -> Deletes {
        Deletes {
            out: Vec::new(),
            names,
            https,
        }
    }

    fn push(&mut self, name: &str, domain: Option<&str>, path: &str) {
        if self.out.len() < MAX_DELETES {
            self.out
                .push(expire(self.names, name, domain, path, self.https));
        }
    }
}

/// A `Set-Cookie` that deletes the cookie of that name, domain (host-only without) and path.
/// It carries the cookies' `SameSite` rule: a browser refuses a `Lax` or `Strict` `Set-Cookie`
/// in a cross-site context (an app in an iframe), so a deletion there must be `None` too.
pub fn expire(
    names: CookieNames,
    name: &str,
    domain: Option<&str>,
    path: &str,
    https: bool,
) -> String {
    let cookie = names.set_cookie(name, "", path, 0, https);
    match domain {
        None => cookie,
        Some(d) => cookie.replacen("; Path=", &format!("; Domain={d}; Path="), 1),
    }
}

/// The marker a completed sign-in leaves beside the session cookie: the time, for
/// [`SIGNED_IN_WINDOW`] seconds. A request without a usable session that still carries it
/// means the browser did not keep or send the session cookie it was just given (cookies
/// blocked, or planted ones in the way): another redirect to the provider would only loop.
pub fn signed_in_marker(names: CookieNames, now: i64, https: bool) -> String {
    names.set_cookie(
        names.signed_in(),
        &now.to_string(),
        "/",
        SIGNED_IN_WINDOW,
        https,
    )
}

/// When the request's signed-in marker says a sign-in completed, if within
/// [`SIGNED_IN_WINDOW`] of `now` (a marker of the future or the past is no marker: a planted
/// one is good for a minute at most).
pub fn signed_in_at(req: &Request, names: CookieNames, now: i64) -> Option<i64> {
    req.cookies()
        .filter(|(n, _)| *n == names.signed_in())
        .filter_map(|(_, v)| v.parse::<i64>().ok())
        .find(|t| *t <= now + 5 && now - *t <= SIGNED_IN_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keys;
    use crate::session::{open_cookie, write_cookie, Principal, Session};

    const NOW: i64 = 1500;

    fn keys() -> Keys {
        Keys::new(&[7; 32], &[8; 32], &[])
    }

    /// A session of `user`, sign-in `ssn`, whose sealed value spans `parts` cookies.
    fn session(user: &str, ssn: &str, parts: usize) -> Session {
        // ~1.36 sealed characters per name byte; aim at the middle of the last part.
        let name_len = ((parts - 1) * CHUNK_SIZE + CHUNK_SIZE / 2) * 3 / 4;
        Session {
            principal: Principal {
                sid: format!("sid:{user}"),
                idp: "aad".into(),
                id: user.into(),
                name: "n".repeat(name_len),
                header: "e30=".into(),
            },
            ssn: ssn.into(),
            iat: 1000,
            exp: 2000,
        }
    }

    /// The cookies (`name`, `value`) that store `s` under `names`.
    fn cookies_of(s: &Session, names: CookieNames) -> Vec<(String, String)> {
        let set = write_cookie(s, &keys(), "app", names, false, 0, 1000);
        set.iter()
            .map(|c| {
                let pair = c.split(';').next().unwrap();
                let (n, v) = pair.split_once('=').unwrap();
                (n.to_owned(), v.to_owned())
            })
            .collect()
    }

    fn request(header: &str) -> Request<'_> {
        Request {
            method: "GET",
            target: "/app/page",
            scheme: "https",
            host: "app.example.com",
            client_addr: "",
            headers: vec![("Cookie", header)],
            body: b"",
        }
    }

    fn header(cookies: &[(String, String)]) -> String {
        cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What the request's cookies resolve to, as `who`: the user signed in, `ambiguous`,
    /// `unusable` or `none`; and how many values were opened.
    fn resolve_as(names: CookieNames, cookies: &[(String, String)]) -> (String, usize) {
        let h = header(cookies);
        let req = request(&h);
        let mut attempts = 0;
        let found = SessionCookies::parse(&req, names).resolve(
            |v| {
                attempts += 1;
                open_cookie(v, &keys(), "app", NOW)
            },
            |a, b| a.ssn == b.ssn && a.principal.sid == b.principal.sid,
        );
        let who = match found {
            Found::None => "none".to_owned(),
            Found::One { session, .. } => session.principal.id,
            Found::Unusable(_) => "unusable".to_owned(),
            Found::Ambiguous { .. } => "ambiguous".to_owned(),
        };
        (who, attempts)
    }

    /// Every order of `items` (Heap's algorithm).
    fn permutations<T: Clone>(items: &[T]) -> Vec<Vec<T>> {
        fn heap<T: Clone>(k: usize, a: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, a, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut a = items.to_vec();
        let mut out = Vec::new();
        heap(a.len(), &mut a, &mut out);
        out
    }

    /// Asserts that every order of `cookies` resolves to `want`, within the attempt bound.
    fn every_order(names: CookieNames, cookies: &[(String, String)], want: &str, what: &str) {
        every_order_within(names, cookies, want, what, MAX_OPEN_ATTEMPTS)
    }

    /// The same, in at most `max_attempts` values opened.
    fn every_order_within(
        names: CookieNames,
        cookies: &[(String, String)],
        want: &str,
        what: &str,
        max_attempts: usize,
    ) {
        let orders = permutations(cookies);
        assert!(!orders.is_empty());
        for order in &orders {
            let (who, attempts) = resolve_as(names, order);
            let shown: Vec<String> = order
                .iter()
                .map(|(n, v)| format!("{n}({})", v.len()))
                .collect();
            assert_eq!(who, want, "{what}: order {shown:?}");
            assert!(attempts <= max_attempts, "{what}: {attempts} attempts");
        }
    }

    fn c(name: &str, value: impl Into<String>) -> (String, String) {
        (name.to_owned(), value.into())
    }

    fn b64url_junk(len: usize) -> String {
        "Ab0-_z".chars().cycle().take(len).collect()
    }

    /// Junk values a planter could send for one part: every shape the parser sees.
    fn junk_values() -> Vec<(&'static str, String)> {
        vec![
            ("short base64url", b64url_junk(40)),
            ("a part's size of base64url", b64url_junk(CHUNK_SIZE)),
            ("oversized", b64url_junk(CHUNK_SIZE + 1)),
            ("16 KB", b64url_junk(16 * 1024)),
            ("not base64url", "!!!$$$".into()),
            ("empty", String::new()),
            ("padding", "QUJD==".into()),
        ]
    }

    const APP: CookieNames = CookieNames::APP_SERVICE;
    const HOST: CookieNames = CookieNames::HOST_PREFIXED;

    #[test]
    fn a_session_alone_opens_in_one_attempt_whatever_its_size() {
        for parts in 1..=4 {
            let s = session("alice", "s1", parts);
            let cookies = cookies_of(&s, APP);
            assert_eq!(cookies.len(), parts, "the sizes aim at {parts} parts");
            for order in permutations(&cookies) {
                assert_eq!(
                    resolve_as(APP, &order),
                    ("alice".into(), 1),
                    "{parts} parts"
                );
            }
        }
    }

    #[test]
    fn a_junk_duplicate_of_any_part_never_fails_a_good_session() {
        for parts in 1..=3 {
            let victim = cookies_of(&session("alice", "s1", parts), APP);
            for part in 0..parts {
                for (what, junk) in junk_values() {
                    let unusable = !usable_part(&junk);
                    let mut cookies = victim.clone();
                    cookies.push(c(&APP.session_part(part), junk));
                    if unusable {
                        // empty or too long: filtered out before any attempt
                        every_order_within(APP, &cookies, "alice", what, 1);
                    }
                    every_order(
                        APP,
                        &cookies,
                        "alice",
                        &format!("{parts} parts, junk part {part}: {what}"),
                    );
                }
            }
        }
    }

    #[test]
    fn a_junk_extra_part_never_fails_a_good_session() {
        for parts in 1..=3 {
            let victim = cookies_of(&session("alice", "s1", parts), APP);
            for extra in parts..MAX_CHUNKS {
                for (what, junk) in junk_values() {
                    let mut cookies = victim.clone();
                    cookies.push(c(&APP.session_part(extra), junk));
                    // The last part of a session is shorter than a part: a longer combination
                    // cannot fit, and costs no attempt.
                    every_order_within(
                        APP,
                        &cookies,
                        "alice",
                        &format!("{parts} parts, junk part {extra}: {what}"),
                        1,
                    );
                }
            }
        }
    }

    #[test]
    fn junk_in_two_parts_at_once_is_ignored_too() {
        let victim = cookies_of(&session("alice", "s1", 2), APP);
        let mut cookies = victim.clone();
        cookies.push(c(&APP.session_part(0), b64url_junk(CHUNK_SIZE)));
        cookies.push(c(&APP.session_part(1), b64url_junk(10)));
        every_order(APP, &cookies, "alice", "junk base and junk part 1");
        let mut cookies = victim;
        cookies.push(c(&APP.session_part(1), b64url_junk(CHUNK_SIZE)));
        cookies.push(c(&APP.session_part(2), b64url_junk(10)));
        every_order(
            APP,
            &cookies,
            "alice",
            "junk parts 1 and 2 (a longer session)",
        );
    }

    #[test]
    fn two_different_valid_sessions_are_ambiguous_in_every_order() {
        for (v_parts, a_parts) in [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (1, 3)] {
            let mut cookies = cookies_of(&session("alice", "s1", v_parts), APP);
            cookies.extend(cookies_of(&session("mallory", "m1", a_parts), APP));
            every_order(
                APP,
                &cookies,
                "ambiguous",
                &format!("victim {v_parts} parts, attacker {a_parts}"),
            );
        }
    }

    #[test]
    fn two_sessions_and_junk_are_still_ambiguous() {
        let mut cookies = cookies_of(&session("alice", "s1", 1), APP);
        cookies.extend(cookies_of(&session("mallory", "m1", 1), APP));
        cookies.push(c(COOKIE_NAME, b64url_junk(30)));
        every_order(APP, &cookies, "ambiguous", "two sessions and a junk base");
        let mut cookies = cookies_of(&session("alice", "s1", 1), APP);
        cookies.extend(cookies_of(&session("mallory", "m1", 1), APP));
        cookies.push(c(&APP.session_part(1), b64url_junk(30)));
        every_order(APP, &cookies, "ambiguous", "two sessions and a junk part 1");
    }

    #[test]
    fn another_sign_in_of_the_same_user_is_ambiguous_but_a_copy_is_not() {
        // Two sign-ins of one user: one may be signed out, or older than a revocation; the
        // user signs in again rather than the module picking one.
        let mut cookies = cookies_of(&session("alice", "s1", 1), APP);
        cookies.extend(cookies_of(&session("alice", "s2", 1), APP));
        every_order(APP, &cookies, "ambiguous", "two sign-ins of alice");
        // The same cookie under another path or domain is the same value: one session.
        let mut cookies = cookies_of(&session("alice", "s1", 2), APP);
        cookies.extend(cookies.clone());
        every_order(APP, &cookies, "alice", "the same two parts twice");
    }

    #[test]
    fn sessions_that_do_not_open_are_not_candidates() {
        // The attacker's expired session, another app's, another key's: ignored, never
        // ambiguous, whatever the order.
        let victim = cookies_of(&session("alice", "s1", 1), APP);
        let mut expired = session("mallory", "m1", 1);
        expired.exp = NOW - 1;
        let expired = cookies_of(&expired, APP);
        let other_key = {
            let s = session("mallory", "m2", 1);
            let set = write_cookie(
                &s,
                &Keys::new(&[9; 32], &[8; 32], &[]),
                "app",
                APP,
                false,
                0,
                1000,
            );
            let v = set[0].split(';').next().unwrap().split_once('=').unwrap().1;
            vec![c(COOKIE_NAME, v)]
        };
        let other_app = {
            let s = session("mallory", "m3", 1);
            let set = write_cookie(&s, &keys(), "other-app", APP, false, 0, 1000);
            let v = set[0].split(';').next().unwrap().split_once('=').unwrap().1;
            vec![c(COOKIE_NAME, v)]
        };
        for (what, planted) in [
            ("expired", expired),
            ("other key", other_key),
            ("other app", other_app),
        ] {
            let mut cookies = victim.clone();
            cookies.extend(planted.clone());
            every_order(APP, &cookies, "alice", what);
            every_order(APP, &planted, "unusable", &format!("{what} alone"));
        }
    }

    #[test]
    fn a_lone_planted_session_is_indistinguishable_without_the_prefix() {
        // With App Service's names, a browser with no session of its own that receives a
        // planted one is signed in as the planter: nothing in the header tells them apart.
        // That is what `ezauth.cookies.hostPrefix` is for.
        let planted = cookies_of(&session("mallory", "m1", 1), APP);
        assert_eq!(resolve_as(APP, &planted).0, "mallory");
        assert_eq!(resolve_as(HOST, &planted).0, "none");
    }

    #[test]
    fn with_the_prefix_unprefixed_cookies_are_ignored_entirely() {
        let victim = cookies_of(&session("alice", "s1", 2), HOST);
        assert!(victim
            .iter()
            .all(|(n, _)| n.starts_with("__Host-AppServiceAuthSession")));
        for planted_parts in 1..=2 {
            let planted = cookies_of(&session("mallory", "m1", planted_parts), APP);
            let mut cookies = victim.clone();
            cookies.extend(planted.clone());
            every_order(
                HOST,
                &cookies,
                "alice",
                "prefixed victim + unprefixed attacker",
            );
            // ... and without the prefix the prefixed cookies are not ours.
            every_order(
                APP,
                &cookies,
                "mallory",
                "the same, read with App Service's names",
            );
        }
        for (what, junk) in junk_values() {
            let mut cookies = victim.clone();
            cookies.push(c(COOKIE_NAME, junk.clone()));
            cookies.push(c("AppServiceAuthSession1", junk));
            every_order(HOST, &cookies, "alice", what);
        }
        // a prefixed junk duplicate (only this host could set one) is ignored like any junk
        let mut cookies = victim;
        cookies.push(c("__Host-AppServiceAuthSession1", b64url_junk(10)));
        every_order(HOST, &cookies, "alice", "prefixed junk part");
    }

    #[test]
    fn parts_out_of_order_or_missing() {
        let victim = cookies_of(&session("alice", "s1", 3), APP);
        // without its middle part the session does not open, and nothing else does
        let gap = vec![victim[0].clone(), victim[2].clone()];
        every_order(APP, &gap, "unusable", "part 1 missing");
        // a lone continuation is no session
        every_order(APP, &victim[1..2], "unusable", "part 1 alone");
        every_order(APP, &victim[1..], "unusable", "parts 1 and 2 alone");
        // a shorter prefix of a longer session does not open either
        every_order(APP, &victim[..2], "unusable", "parts 0 and 1 of 3");
    }

    #[test]
    fn too_many_values_or_combinations_choose_nothing() {
        let victim = cookies_of(&session("alice", "s1", 1), APP);
        // four distinct values of one part: more than are considered
        let mut cookies = victim.clone();
        for i in 0..MAX_VALUES_PER_PART {
            cookies.push(c(COOKIE_NAME, b64url_junk(20 + i)));
        }
        every_order(APP, &cookies, "ambiguous", "four values of the base");
        // three parts of three values each: 27 combinations > the attempt bound
        let mut cookies = cookies_of(&session("alice", "s1", 3), APP);
        for part in 0..3 {
            for i in 0..2 {
                let len = if part < 2 { CHUNK_SIZE } else { 30 + i };
                let junk = b64url_junk(len + i)
                    .chars()
                    .rev()
                    .take(len)
                    .collect::<String>();
                cookies.push(c(&APP.session_part(part), junk));
            }
        }
        let (who, attempts) = resolve_as(APP, &cookies);
        assert_eq!(who, "ambiguous");
        assert_eq!(attempts, MAX_OPEN_ATTEMPTS);
    }

    #[test]
    fn odd_names_are_not_parts() {
        let victim = cookies_of(&session("alice", "s1", 1), APP);
        for name in [
            "AppServiceAuthSession8",
            "AppServiceAuthSession9",
            "AppServiceAuthSession01",
            "AppServiceAuthSession+1",
            "AppServiceAuthSession18446744073709551616",
            "AppServiceAuthSessionX",
            "appserviceauthsession",
            "__Host-AppServiceAuthSession",
            "__Secure-AppServiceAuthSession",
            "AppServiceAuthLoginDone",
        ] {
            let mut cookies = victim.clone();
            cookies.push(c(name, b64url_junk(CHUNK_SIZE)));
            every_order(APP, &cookies, "alice", name);
            assert_eq!(resolve_as(APP, &cookies[1..]).0, "none", "{name} alone");
        }
    }

    fn parse_with(header: &str, names: CookieNames, f: impl FnOnce(SessionCookies)) {
        let req = request(header);
        f(SessionCookies::parse(&req, names))
    }

    fn attrs(set: &str) -> (String, Option<String>, String) {
        let mut name = String::new();
        let mut domain = None;
        let mut path = String::new();
        for (i, part) in set.split("; ").enumerate() {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if i == 0 {
                name = k.to_owned();
                assert_eq!(v, "", "a deletion has no value: {set}");
            } else if k == "Domain" {
                domain = Some(v.to_owned());
            } else if k == "Path" {
                path = v.to_owned();
            }
        }
        assert!(set.contains("Max-Age=0"), "{set}");
        assert!(crate::headers::is_safe_value(set), "{set:?}");
        (name, domain, path)
    }

    #[test]
    fn clearing_covers_domain_variants_of_names_sent() {
        let h = "AppServiceAuthSession=a; AppServiceAuthSession1=b; AppServiceAuthLoginDone=1";
        parse_with(h, APP, |c| {
            let all: Vec<_> = c
                .clear_all("app.example.com:8443", "/app/page", true)
                .iter()
                .map(|s| attrs(s))
                .collect();
            for name in [
                "AppServiceAuthSession",
                "AppServiceAuthSession1",
                "AppServiceAuthLoginDone",
            ] {
                for domain in [None, Some("example.com"), Some("app.example.com")] {
                    let want = (name.to_owned(), domain.map(str::to_owned), "/".to_owned());
                    assert!(all.contains(&want), "{want:?} in {all:?}");
                }
            }
            // no duplicate name: no path variants
            assert!(all.iter().all(|(_, _, p)| p == "/"), "{all:?}");
            assert_eq!(all.len(), 9);
        });
    }

    #[test]
    fn clearing_after_a_duplicate_covers_path_variants_within_the_bound() {
        let h = "AppServiceAuthSession=a; AppServiceAuthSession=b";
        parse_with(h, APP, |c| {
            let all: Vec<_> = c
                .clear_all("app.example.com", "/app/deep/page", false)
                .iter()
                .map(|s| attrs(s))
                .collect();
            for path in [
                "/",
                "/app",
                "/app/",
                "/app/deep",
                "/app/deep/",
                "/app/deep/page",
            ] {
                let want = (
                    "AppServiceAuthSession".to_owned(),
                    Some("example.com".to_owned()),
                    path.to_owned(),
                );
                assert!(all.contains(&want), "{want:?} in {all:?}");
            }
            assert!(all.len() <= MAX_DELETES);
        });
        // every part named twice, a deep path, a long host: still at most MAX_DELETES lines
        let mut many = Vec::new();
        for i in 0..MAX_CHUNKS {
            many.push(format!(
                "{}=a; {}=b",
                APP.session_part(i),
                APP.session_part(i)
            ));
        }
        let h = many.join("; ");
        parse_with(&h, APP, |c| {
            let path = "/a/b/c/d/e/f/g/h/i/j/k";
            let host = "a.b.c.d.e.f.example.com";
            assert_eq!(c.clear_all(host, path, true).len(), MAX_DELETES);
            assert!(c.clear_unused(1, host, path, true).len() <= MAX_DELETES);
            assert!(c.clear_planted(host, path, true).len() <= MAX_DELETES);
        });
    }

    #[test]
    fn domain_and_path_variants() {
        assert_eq!(
            domain_variants("app.example.com", true),
            ["example.com", "app.example.com"]
        );
        assert_eq!(
            domain_variants("app.example.com:8080", false),
            ["example.com"]
        );
        assert_eq!(
            domain_variants("a.b.example.co.uk", true),
            [
                "co.uk",
                "example.co.uk",
                "b.example.co.uk",
                "a.b.example.co.uk"
            ]
        );
        assert_eq!(
            domain_variants("x.y.z.a.b.example.com", false).len(),
            MAX_DOMAIN_VARIANTS
        );
        for ip in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:443",
            "10.0.0.1.",
        ] {
            assert!(domain_variants(ip, true).is_empty(), "{ip}");
        }
        assert!(domain_variants("localhost", true).is_empty());
        assert!(domain_variants("localhost:80", false).is_empty());
        assert_eq!(domain_variants("example.com", true), ["example.com"]);
        assert!(domain_variants("example.com", false).is_empty());

        assert_eq!(path_variants("/"), Vec::<&str>::new());
        assert_eq!(path_variants("/a"), ["/a"]);
        assert_eq!(path_variants("/a/"), ["/a", "/a/"]);
        assert_eq!(path_variants("/a/b"), ["/a", "/a/", "/a/b"]);
        assert_eq!(path_variants("/a;x/b"), Vec::<&str>::new());
        assert_eq!(path_variants("/a/b,c"), ["/a", "/a/"]);
        assert_eq!(path_variants("/a/b c"), ["/a", "/a/"]);
        assert_eq!(path_variants("/a/\u{e9}"), ["/a", "/a/"]);
        assert_eq!(path_variants("*"), Vec::<&str>::new());
        assert_eq!(
            path_variants(&format!("/{}", "x".repeat(300))),
            Vec::<&str>::new()
        );
        assert_eq!(path_variants("/a/b/c/d/e/f").len(), MAX_PATH_VARIANTS);
    }

    #[test]
    fn the_prefix_deletes_host_only_at_the_root_and_always_secure() {
        let h = "__Host-AppServiceAuthSession=a; __Host-AppServiceAuthSession=b; \
                 __Host-AppServiceAuthLoginDone=1";
        parse_with(h, HOST, |c| {
            let all = c.clear_all("app.example.com", "/app/page", false);
            assert_eq!(all.len(), 2, "{all:?}");
            for s in &all {
                let (name, domain, path) = attrs(s);
                assert!(name.starts_with("__Host-"), "{s}");
                assert_eq!((domain, path.as_str()), (None, "/"), "{s}");
                assert!(s.contains("; Secure"), "{s}");
            }
            assert!(c
                .clear_planted("app.example.com", "/app/page", false)
                .is_empty());
        });
    }

    #[test]
    fn after_a_session_opened_only_what_was_not_used_is_deleted() {
        // Just the session: nothing to delete.
        parse_with("AppServiceAuthSession=a; other=1", APP, |c| {
            assert!(c.clear_unused(1, "app.example.com", "/x", true).is_empty());
        });
        // The marker of a sign-in: consumed.
        parse_with(
            "AppServiceAuthSession=a; AppServiceAuthLoginDone=1",
            APP,
            |c| {
                let all = c.clear_unused(1, "app.example.com", "/x", true);
                assert_eq!(all.len(), 1);
                assert!(all[0].starts_with("AppServiceAuthLoginDone=;"), "{all:?}");
            },
        );
        // A planted extra part: host-only delete of that part only, `Domain=` parents of all
        // names, never `Domain=` the host itself, never host-only for the part in use.
        parse_with(
            "AppServiceAuthSession=a; AppServiceAuthSession1=j",
            APP,
            |c| {
                let all: Vec<_> = c
                    .clear_unused(1, "app.example.com", "/x", true)
                    .iter()
                    .map(|s| attrs(s))
                    .collect();
                assert!(all.contains(&("AppServiceAuthSession1".into(), None, "/".into())));
                assert!(!all.contains(&("AppServiceAuthSession".into(), None, "/".into())));
                assert!(all.contains(&(
                    "AppServiceAuthSession".into(),
                    Some("example.com".into()),
                    "/".into()
                )));
                assert!(all
                    .iter()
                    .all(|(_, d, _)| d.as_deref() != Some("app.example.com")));
            },
        );
        // At the callback: planted variants first, never the host-only cookie.
        parse_with(
            "AppServiceAuthSession=a; AppServiceAuthSession=b",
            APP,
            |c| {
                let all: Vec<_> = c
                    .clear_planted("app.example.com", "/.auth/login/aad/callback", true)
                    .iter()
                    .map(|s| attrs(s))
                    .collect();
                assert!(
                    !all.is_empty() && all.iter().all(|(_, d, _)| d.is_some()),
                    "{all:?}"
                );
            },
        );
        parse_with("other=1", APP, |c| {
            assert!(c.clear_planted("app.example.com", "/", true).is_empty());
        });
    }

    #[test]
    fn the_signed_in_marker_counts_for_a_minute() {
        let set = signed_in_marker(APP, NOW, false);
        assert!(
            set.starts_with("AppServiceAuthLoginDone=1500; Path=/; Max-Age=60"),
            "{set}"
        );
        let prefixed = signed_in_marker(HOST, NOW, false);
        assert!(
            prefixed.starts_with("__Host-AppServiceAuthLoginDone=")
                && prefixed.contains("; Secure")
        );
        for (header, want) in [
            ("AppServiceAuthLoginDone=1500", Some(1500)),
            ("AppServiceAuthLoginDone=1440", Some(1440)),
            ("AppServiceAuthLoginDone=1439", None),
            ("AppServiceAuthLoginDone=1506", None),
            (
                "AppServiceAuthLoginDone=x; AppServiceAuthLoginDone=1490",
                Some(1490),
            ),
            ("AppServiceAuthLoginDone=", None),
            ("__Host-AppServiceAuthLoginDone=1500", None),
        ] {
            assert_eq!(signed_in_at(&request(header), APP, NOW), want, "{header}");
        }
        assert_eq!(
            signed_in_at(&request("__Host-AppServiceAuthLoginDone=1500"), HOST, NOW),
            Some(1500)
        );
        assert_eq!(
            signed_in_at(&request("AppServiceAuthLoginDone=1500"), HOST, NOW),
            None,
            "with the prefix a planted unprefixed marker is no marker"
        );
    }

    #[test]
    fn names_and_flags() {
        assert_eq!(APP.session_part(0), "AppServiceAuthSession");
        assert_eq!(APP.session_part(3), "AppServiceAuthSession3");
        assert_eq!(HOST.session_part(1), "__Host-AppServiceAuthSession1");
        assert_eq!(APP.login_state_path("/.auth"), "/.auth/");
        assert_eq!(HOST.login_state_path("/.auth"), "/");
        assert!(!APP.secure(false) && APP.secure(true) && HOST.secure(false));
        // every cookie the prefixed names write satisfies the browser's `__Host-` rules
        for s in write_cookie(
            &session("alice", "s1", 2),
            &keys(),
            "app",
            HOST,
            false,
            4,
            1000,
        ) {
            assert!(s.starts_with("__Host-"), "{s}");
            assert!(
                s.contains("; Path=/;") && s.contains("; Secure") && !s.contains("Domain"),
                "{s}"
            );
        }
    }
}
