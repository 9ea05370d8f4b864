//! `ezauth store ls | show | rm | purge | rekey`: each writes what it did to `out` and returns
//! an error message for the command line to print (the store's own errors included).

use std::io::Write;

use super::{list_all, Entries, Found, Locked, LEGACY_NOTE};
use crate::store::envelope::{self, Opened};
use crate::store::{parse_expires_on, StoreError, TokenRecord, Update};

fn written(e: std::io::Error) -> String {
    format!("cannot write the output: {e}")
}

fn store_error(e: StoreError) -> String {
    e.to_string()
}

/// `ls`: one line per entry (name, size, and what can be known of it), then the count. With
/// `page` (size, cursor), one page and the cursor of the next.
pub fn ls(
    store: &dyn Entries,
    page: Option<(usize, Option<&str>)>,
    out: &mut dyn Write,
) -> Result<(), String> {
    let (names, next) = match page {
        Some((size, cursor)) => {
            let p = store.list(cursor, size).map_err(store_error)?;
            (p.names, Some(p.next))
        }
        None => (list_all(store).map_err(store_error)?, None),
    };
    let mut listed = 0;
    for name in &names {
        // One entry the backend refuses (oversized, not a string) is a line, not the end.
        let bytes = match store.read(name) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue, // Removed since it was listed.
            Err(e @ StoreError::Corrupt(_)) => {
                listed += 1;
                writeln!(out, "{name}  unreadable: {e}").map_err(written)?;
                continue;
            }
            Err(e) => return Err(store_error(e)),
        };
        listed += 1;
        let what = match Found::open(store.keys(), name, &bytes) {
            Found::Owned {
                owner,
                record,
                current,
            } => format!(
                "owner {owner}  provider {}  expires {}{}",
                record.provider_name,
                record.expires_on.as_deref().unwrap_or("-"),
                if current {
                    ""
                } else {
                    "  (under a previous key's name: `ezauth store rekey` moves it)"
                }
            ),
            Found::Legacy => LEGACY_NOTE.to_owned(),
            Found::Unreadable(why) => format!("unreadable: {why}"),
        };
        writeln!(out, "{name}  {} bytes  {what}", bytes.len()).map_err(written)?;
    }
    match next {
        None => writeln!(out, "{listed} entries"),
        Some(None) => writeln!(out, "{listed} entries on this page (the last)"),
        Some(Some(cursor)) => writeln!(
            out,
            "{listed} entries on this page; next page: --after '{cursor}'"
        ),
    }
    .map_err(written)
}

/// A token shown by `show` without `--reveal`: its first 4 characters.
pub fn mask(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}…")
}

/// `show`: the user's record as JSON, tokens masked unless `reveal`. An error when the user
/// has no record.
pub fn show(
    store: &dyn Entries,
    user: &str,
    reveal: bool,
    out: &mut dyn Write,
) -> Result<(), String> {
    let record = store
        .load(user)
        .map_err(store_error)?
        .ok_or_else(|| format!("{user} has no record in this store"))?;
    let mut shown: TokenRecord = (*record).clone();
    if !reveal {
        for token in [
            &mut shown.access_token,
            &mut shown.access_token_secret,
            &mut shown.authentication_token,
            &mut shown.id_token,
            &mut shown.refresh_token,
        ]
        .into_iter()
        .flatten()
        {
            *token = mask(token);
        }
    }
    let json = serde_json::json!({
        "user": user,
        "entry": store.keys().store_file_name(user),
        "record": shown,
    });
    let text = serde_json::to_string_pretty(&json).expect("records always serialize");
    writeln!(out, "{text}").map_err(written)
}

/// `rm`: removes the user's identity and tokens (every name the entry may have), under the
/// user's lock. Its sign-out marks stay, as a logout leaves them: without them, sessions
/// signed out before (a stolen cookie an operator is cleaning up after) would work again.
pub fn rm(store: &dyn Entries, user: &str, out: &mut dyn Write) -> Result<(), String> {
    // Whether there was a record, and whether it had marks.
    let mut had = (false, false);
    let updated = store.update(user, &mut |current| {
        let marks = current.as_ref().and_then(TokenRecord::marks_only);
        had = (current.is_some(), marks.is_some());
        match marks {
            Some(marks) => Update::Replace(Box::new(marks)),
            None => Update::Remove,
        }
    });
    match (updated, had) {
        (Ok(()), (true, true)) => writeln!(
            out,
            "removed the identity and tokens of {user}; its sign-out marks stay"
        ),
        (Ok(()), (true, false)) => writeln!(out, "removed the record of {user}"),
        (Ok(()), _) => writeln!(out, "{user} had no record: nothing removed"),
        // An entry that does not open (tampered, foreign) holds no mark this tool could keep.
        (Err(StoreError::Corrupt(why)), _) => {
            store.delete(user).map_err(store_error)?;
            writeln!(
                out,
                "removed the entry of {user}, which did not open: {why}"
            )
        }
        (Err(e), _) => return Err(store_error(e)),
    }
    .map_err(written)
}

/// What `purge` and `rekey` did, entry by entry.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Removed (purge) or moved to the current name (rekey).
    pub done: usize,
    /// Looked at and left as they are (not expired; already under the current name).
    pub left: usize,
    /// Legacy entries, which the tool cannot open.
    pub legacy: usize,
    pub unreadable: usize,
    pub failed: usize,
}

/// Parses `--expired-before`: RFC 3339, or a date (`YYYY-MM-DD`, midnight UTC); Unix seconds.
pub fn parse_date(text: &str) -> Result<i64, String> {
    if let Some(t) = parse_expires_on(text) {
        return Ok(t);
    }
    let bad = || format!("{text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date");
    let mut parts = text.splitn(3, '-');
    let mut next = || -> Result<i64, String> {
        parts
            .next()
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next()?, next()?, next()?);
    let month = time::Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(
        i32::try_from(y).map_err(|_| bad())?,
        month,
        u8::try_from(d).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    Ok(date.midnight().assume_utc().unix_timestamp())
}

/// May `record` go, purging records expired before `before`? Its `expires_on` must be before
/// it; with a refresh token, `extension` (`tokenRefreshExtensionHours`) earlier still: the
/// refresh route renews a session that long past its end, and that refresh rewrites the
/// record. A record without an `expires_on` is kept.
pub fn purgeable(record: &TokenRecord, before: i64, extension: i64) -> bool {
    let Some(expires) = record.expires_on.as_deref().and_then(parse_expires_on) else {
        return false;
    };
    let grace = if record.refresh_token.is_some() {
        extension
    } else {
        0
    };
    expires.saturating_add(grace) < before
}

/// `purge --expired-before`: removes each record [`purgeable`] at `before`, checked again
/// under its user's lock (a refresh meanwhile keeps it).
pub fn purge(
    store: &dyn Entries,
    before: i64,
    extension: i64,
    out: &mut dyn Write,
) -> Result<Tally, String> {
    let keys = store.keys();
    walk(
        store,
        out,
        ("purged", "kept"),
        &mut |_, record| purgeable(record, before, extension),
        &mut |name, owner, held| {
            let Some(bytes) = held.read(name)? else {
                return Ok(None);
            };
            match envelope::open_named(keys, name, &bytes)? {
                Opened::Owned { record, .. } if purgeable(&record, before, extension) => {
                    // The sign-out marks stay (see `rm`).
                    match record.marks_only() {
                        Some(marks) => {
                            held.write(name, &envelope::seal(keys, name, owner, &marks))?
                        }
                        None => held.remove(name)?,
                    }
                    Ok(Some(format!("removed the expired record of {owner}")))
                }
                _ => Ok(None),
            }
        },
    )
}

/// `rekey`: moves every entry found under a previous key's name to its current name, sealed
/// with the current key, under the user's lock (the one a refresh takes). The entry at the
/// current name, if the site wrote one meanwhile, is newer and stays; the old one goes.
/// A rerun finds nothing to move.
pub fn rekey(store: &dyn Entries, out: &mut dyn Write) -> Result<Tally, String> {
    let keys = store.keys();
    walk(
        store,
        out,
        ("moved", "already current"),
        &mut |current, _| !current,
        &mut |name, owner, held| {
            let current = keys.store_file_name(owner);
            if held.read(&current)?.is_none() {
                let Some(bytes) = held.read(name)? else {
                    return Ok(None); // Moved meanwhile.
                };
                let Opened::Owned { record, .. } = envelope::open_named(keys, name, &bytes)? else {
                    return Ok(None);
                };
                let sealed = envelope::seal(keys, &current, owner, &record);
                held.write(&current, &sealed)?;
                if held.read(&current)?.as_deref() != Some(sealed.as_slice()) {
                    return Err(StoreError::Corrupt(
                        "the rewritten entry did not read back the same".into(),
                    ));
                }
            }
            held.remove(name)?;
            Ok(Some(format!("moved to {current}")))
        },
    )
}

/// What `purge` or `rekey` does to entry `name` of `owner` under the lock: the line to print
/// when it changed it.
type Act<'a> = dyn FnMut(&str, &str, &dyn Locked) -> Result<Option<String>, StoreError> + 'a;

/// What `purge` and `rekey` share: every entry is opened; legacy and unreadable ones are
/// counted and never touched; an owned one `wanted` (told whether it is under its current
/// name) gets `act` under its owner's lock, which reads it again there (a refresh may have
/// changed it) and says what it did, if anything. Ends with a summary line naming what was
/// `done` and `left` as `labels` say.
fn walk(
    store: &dyn Entries,
    out: &mut dyn Write,
    labels: (&str, &str),
    wanted: &mut dyn FnMut(bool, &TokenRecord) -> bool,
    act: &mut Act<'_>,
) -> Result<Tally, String> {
    let keys = store.keys();
    let mut tally = Tally::default();
    for name in list_all(store).map_err(store_error)? {
        let Some(bytes) = store.read(&name).map_err(store_error)? else {
            continue;
        };
        let owner = match Found::open(keys, &name, &bytes) {
            Found::Owned {
                owner,
                record,
                current,
            } if wanted(current, &record) => owner,
            Found::Owned { .. } => {
                tally.left += 1;
                continue;
            }
            Found::Legacy => {
                tally.legacy += 1;
                continue;
            }
            Found::Unreadable(why) => {
                writeln!(out, "{name}: unreadable, kept: {why}").map_err(written)?;
                tally.unreadable += 1;
                continue;
            }
        };
        let mut did = None;
        let result = store.with_lock(&keys.store_file_name(&owner), &mut |held| {
            did = act(&name, &owner, held)?;
            Ok(())
        });
        match (result, did) {
            (Ok(()), Some(what)) => {
                writeln!(out, "{name}: {what}").map_err(written)?;
                tally.done += 1;
            }
            (Ok(()), None) => tally.left += 1,
            (Err(e), _) => {
                writeln!(out, "{name}: {e}").map_err(written)?;
                tally.failed += 1;
            }
        }
    }
    let (done, left) = labels;
    writeln!(
        out,
        "{done} {}, {left} {}, owner unknown (legacy, skipped) {}, unreadable {}, failed {}",
        tally.done, tally.left, tally.legacy, tally.unreadable, tally.failed
    )
    .map_err(written)?;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_or_days() {
        assert_eq!(parse_date("2021-06-08").unwrap(), 1623110400);
        assert_eq!(parse_date("2021-06-08T15:35:58Z").unwrap(), 1623166558);
        for bad in [
            "",
            "2021-13-01",
            "2021-02-30",
            "yesterday",
            "2021-06",
            "-1-01-01",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refresh_token_keeps_a_record_for_the_refresh_extension() {
        let mut r = TokenRecord {
            expires_on: Some("2021-06-08T00:00:00Z".into()),
            ..Default::default()
        };
        let day = parse_date("2021-06-08").unwrap();
        assert!(!purgeable(&r, day, 3600));
        assert!(purgeable(&r, day + 1, 3600));
        r.refresh_token = Some("rt".into());
        assert!(!purgeable(&r, day + 3600, 3600));
        assert!(purgeable(&r, day + 3601, 3600));
        r.expires_on = None;
        assert!(!purgeable(&r, i64::MAX, 0));
    }

    #[test]
    fn masks_keep_four_characters() {
        assert_eq!(mask("eyJhbGciOi"), "eyJh…");
        assert_eq!(mask("ab"), "ab…");
        assert_eq!(mask("ééééé"), "éééé…");
    }
}
