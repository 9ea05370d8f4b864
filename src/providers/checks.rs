//! Checks on what a provider's API answers before it reaches a header, a cookie or the store:
//! the provider is trusted to say who the user is, not to send bytes that split headers or
//! grow without bound. Provider-specific shapes (a GitHub login, a Twitter screen name) stay
//! with their provider.

/// Longest display text taken (a name).
const MAX_TEXT: usize = 256;
/// Longest address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;

/// A display text: bounded, no control characters, not blank.
pub fn is_text(t: &str) -> bool {
    !t.trim().is_empty() && t.chars().count() <= MAX_TEXT && !t.chars().any(char::is_control)
}

/// An e-mail address as providers list them (internationalized ones included, RFC 6531): one
/// `@` between non-empty parts, no spaces or control characters, bounded.
pub fn is_email(a: &str) -> bool {
    a.len() <= MAX_EMAIL
        && a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !a.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// A user object's `email`, when it holds a usable address (providers give it only with the
/// scope, and not for every user).
pub fn email_of(user: &serde_json::Value) -> Option<&str> {
    user.get("email")
        .and_then(serde_json::Value::as_str)
        .filter(|a| is_email(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_addresses_are_bounded_and_free_of_controls() {
        assert!(is_text("The Octocat") && is_text("Zoë"));
        assert!(!is_text("a\u{7}b") && !is_text("a\u{85}b") && !is_text("  "));
        assert!(!is_text(&"n".repeat(MAX_TEXT + 1)));
        assert!(is_email("octocat@github.com") && is_email("zoë@example.org"));
        for bad in [
            "no-at",
            "@example.org",
            "a@",
            "a@b@c",
            "a b@c",
            "a@b\r\n",
            "a@b\u{85}",
            &format!("{}@example.org", "a".repeat(MAX_EMAIL)),
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
