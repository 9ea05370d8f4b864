//! Every line of the two public open-redirect corpora (SPEC §4, `tests/data/corpora/README.md`)
//! must be refused by the redirect validator, tried as given and once percent-decoded. The module's
//! own origin is a host that appears in neither corpus, and the corpora's "allowed" domain is on
//! the allow-list, so tricks built around an allowed host are exercised too.
//!
//! An `Ok` is tolerated only if it is a same-origin relative path (it cannot leave the origin);
//! those are counted and printed, and ideally there are none.

use std::collections::BTreeMap;

use ezauth::redirect::{validate, Origin};

const CORPORA: [&str; 2] = [
    "mod_auth_openidc-open-redirect-payloads.txt",
    "oauth2-proxy-openredirects.txt",
];

/// `%XX` decoding as the oauth2-proxy suite does it (once, no `+`); bytes that are not UTF-8
/// become U+FFFD, which the validator must refuse like any other non-ASCII character.
fn percent_decode_once(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn every_corpus_line_is_refused() {
    let origin = Origin {
        scheme: "https",
        host: "app.ezauth.test",
    };
    let allowed = vec!["https://www.whitelisteddomain.tld".to_owned()];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpora");

    let (mut tried, mut refused) = (0usize, 0usize);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut same_origin = Vec::new();
    let mut offending = Vec::new();
    for file in CORPORA {
        let path = format!("{dir}/{file}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut lines = 0usize;
        for (n, line) in text.lines().enumerate() {
            lines += 1;
            for (variant, target) in [
                ("raw", line.to_owned()),
                ("decoded", percent_decode_once(line)),
            ] {
                tried += 1;
                match validate(&target, &origin, &allowed) {
                    Err(e) => {
                        refused += 1;
                        *reasons.entry(e.to_string()).or_default() += 1;
                    }
                    Ok(out)
                        if out.starts_with('/')
                            && !out.starts_with("//")
                            && !out.starts_with("/\\") =>
                    {
                        same_origin.push(format!(
                            "{file}:{} ({variant}) {target:?} -> {out:?}",
                            n + 1
                        ));
                    }
                    Ok(out) => offending.push(format!(
                        "{file}:{} ({variant}) {target:?} -> {out:?}",
                        n + 1
                    )),
                }
            }
        }
        assert!(lines > 500, "{path}: only {lines} lines; corpus truncated?");
    }

    println!(
        "redirect corpora: {tried} targets tried, {refused} refused, {} accepted as same-origin \
         relative paths, {} offending",
        same_origin.len(),
        offending.len()
    );
    for (reason, count) in &reasons {
        println!("  {count:5}  {reason}");
    }
    for s in &same_origin {
        println!("  same-origin: {s}");
    }
    assert!(
        offending.is_empty(),
        "{} corpus targets were accepted as redirects that can leave the origin; first ones:\n{}",
        offending.len(),
        offending
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
