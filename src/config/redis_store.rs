//! `ezauth.tokenStore.redis`: the Redis token store, resolved. It needs
//! `login.tokenStore.enabled` (App Service's switch for keeping tokens at all) and replaces
//! the file store: App Service's exports always carry `login.tokenStore.fileSystem`, so a
//! directory there is a warning, not an error. The URL comes from the environment variable
//! the file names: it holds the password, and is never echoed in an error.

use std::time::Duration;

use super::{invalid, schema, ConfigError, Environment, StoreSettings};
use crate::store::redis::{RedisBackend, RedisOptions, SentinelOptions};
use crate::store::redis_sentinel::{check_data_url, parse_sentinel_urls, valid_master_name};

const PATH: &str = "ezauth.tokenStore.redis";

/// The extra time a lock lease gives the write after the provider call (the lock contract's
/// bound: 2 × httpTimeout + 5 s, see `store::Backend`).
const LEASE_WRITE_ALLOWANCE: Duration = Duration::from_secs(5);

/// The token store: `login`'s (`login.tokenStore`, resolved) unless `redis` is configured.
pub(super) fn resolve(
    redis: Option<schema::RedisStore>,
    login: Option<StoreSettings>,
    http_timeout: Duration,
    env: &dyn Environment,
    warnings: &mut Vec<String>,
) -> Result<Option<StoreSettings>, ConfigError> {
    let Some(redis) = redis else {
        return Ok(login);
    };
    match login {
        None => {
            return Err(invalid(
                PATH,
                "needs login.tokenStore.enabled: true (without it no tokens are kept)",
            ))
        }
        Some(StoreSettings::File { directory }) => {
            // The default directory's warning does not apply: no directory is used.
            let before = warnings.len();
            warnings.retain(|w| !w.starts_with("login.tokenStore.fileSystem.directory is not set"));
            if warnings.len() == before {
                warnings.push(format!(
                    "login.tokenStore.fileSystem.directory ({}) is not used: {PATH} replaces \
                     the file store",
                    directory.display()
                ));
            }
        }
        Some(_) => {
            return Err(invalid(
                PATH,
                "cannot be combined with another configured token store: choose one",
            ))
        }
    }
    let field = |name: &str| format!("{PATH}.{name}");
    let setting = redis
        .url_setting_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            invalid(
                &field("urlSettingName"),
                "is not set (the environment variable holding the Redis URL)",
            )
        })?;
    let url = env.var(&setting).filter(|u| !u.is_empty()).ok_or_else(|| {
        invalid(
            &field("urlSettingName"),
            format!(
                "environment variable {setting} is not set (redis://[user:password@]host:port[/db], \
                 or rediss:// for TLS)"
            ),
        )
    })?;
    let key_prefix = redis.key_prefix.unwrap_or_else(|| "ezauth:".into());
    if key_prefix.len() > 64
        || !key_prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
    {
        // Braces would change the keys' hash tag, which keeps a user's keys in one cluster slot.
        return Err(invalid(
            &field("keyPrefix"),
            "must be at most 64 printable ASCII characters, without spaces or braces",
        ));
    }
    if key_prefix.ends_with("lock:") || key_prefix.ends_with("once:") {
        // Its records would be another site's lock or one-time keys (`{prefix}lock:{name}`).
        return Err(invalid(
            &field("keyPrefix"),
            "must not end in \"lock:\" or \"once:\": its records would land on the lock and \
             one-time keys of a site whose prefix comes before that",
        ));
    }
    // A timeout or bound in seconds: `zero_ok` allows 0, `most` is the largest accepted.
    let bounded = |v: Option<f64>, default: f64, name: &str, zero_ok: bool, most: f64| {
        let s = v.unwrap_or(default);
        let low_ok = if zero_ok { s >= 0.0 } else { s > 0.0 };
        if low_ok && s <= most {
            Ok(Duration::from_secs_f64(s))
        } else {
            let from = if zero_ok { "from 0" } else { "more than 0" };
            Err(invalid(
                &field(name),
                format!("must be {from} and at most {most} seconds"),
            ))
        }
    };
    let seconds = |v, default, name: &str, zero_ok| bounded(v, default, name, zero_ok, 600.0);
    let staleness = seconds(redis.staleness_seconds, 1.0, "stalenessSeconds", true)?;
    let revalidate = bounded(
        redis.revalidate_seconds,
        60f64.max(staleness.as_secs_f64()),
        "revalidateSeconds",
        true,
        3600.0,
    )?;
    if revalidate < staleness {
        return Err(invalid(
            &field("revalidateSeconds"),
            "must be at least stalenessSeconds",
        ));
    }
    let cluster = redis.cluster.unwrap_or(false);
    let sentinel = match redis.sentinel {
        None => None,
        Some(_) if cluster => {
            return Err(invalid(
                &field("sentinel"),
                "cannot be combined with \"cluster\": true (a cluster finds its primaries \
                 itself)",
            ))
        }
        Some(s) => {
            let sentinel = resolve_sentinel(s, env)?;
            check_data_url(&url, &sentinel.master_name)
                .map_err(|e| invalid(&field("urlSettingName"), format!("{setting}: {e}")))?;
            Some(sentinel)
        }
    };
    let options = RedisOptions {
        url,
        cluster,
        sentinel,
        key_prefix,
        connect_timeout: seconds(
            redis.connect_timeout_seconds,
            2.0,
            "connectTimeoutSeconds",
            false,
        )?,
        timeout: seconds(redis.timeout_seconds, 2.0, "timeoutSeconds", false)?,
        staleness,
        revalidate,
        lease: http_timeout * 2 + LEASE_WRITE_ALLOWANCE,
    };
    // Parses the URL (no connection: that is made by the processes that use the store).
    RedisBackend::open(options.clone())
        .map_err(|e| invalid(&field("urlSettingName"), format!("{setting}: {e}")))?;
    Ok(Some(StoreSettings::Redis(options)))
}

/// `ezauth.tokenStore.redis.sentinel`: the master name and the sentinels' URLs (from the
/// environment, never echoed).
fn resolve_sentinel(
    sentinel: schema::RedisSentinel,
    env: &dyn Environment,
) -> Result<SentinelOptions, ConfigError> {
    let field = |name: &str| format!("{PATH}.sentinel.{name}");
    let master_name = sentinel
        .master_name
        .filter(|n| valid_master_name(n))
        .ok_or_else(|| {
            invalid(
                &field("masterName"),
                "must be the name the sentinels monitor the primary under: 1 to 64 letters, \
                 digits, '-', '_' or '.'",
            )
        })?;
    let setting = sentinel
        .urls_setting_name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            invalid(
                &field("urlsSettingName"),
                "is not set (the environment variable holding the sentinels' URLs)",
            )
        })?;
    let urls = env.var(&setting).filter(|u| !u.is_empty()).ok_or_else(|| {
        invalid(
            &field("urlsSettingName"),
            format!(
                "environment variable {setting} is not set (the sentinels, \
                 redis://[user:password@]host:port or rediss://, comma-separated)"
            ),
        )
    })?;
    parse_sentinel_urls(&urls)
        .map_err(|e| invalid(&field("urlsSettingName"), format!("{setting}: {e}")))?;
    Ok(SentinelOptions { master_name, urls })
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Settings};
    use super::*;
    use std::collections::HashMap;

    fn env(url: Option<&str>) -> HashMap<String, String> {
        let mut e = HashMap::from([
            ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), "11".repeat(32)),
            ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), "22".repeat(32)),
        ]);
        if let Some(u) = url {
            e.insert("REDIS_URL".into(), u.into());
        }
        e
    }

    /// A configuration with `login.tokenStore` `store` and `ezauth` `ext`.
    fn config(store: &str, ext: &str) -> String {
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
            "login":{{"tokenStore":{store}}},"ezauth":{ext},
            "httpSettings":{{"requireHttps":false}}}}"#
        )
    }

    /// The environment with `url` as REDIS_URL and `sentinels` as REDIS_SENTINELS.
    fn sentinel_env(url: &str, sentinels: Option<&str>) -> HashMap<String, String> {
        let mut e = env(Some(url));
        if let Some(s) = sentinels {
            e.insert("REDIS_SENTINELS".into(), s.into());
        }
        e
    }

    /// `ezauth` with a Redis store through the sentinels, `extra` fields added.
    fn via_sentinel(master: &str, extra: &str) -> String {
        redis(&format!(
            r#","sentinel":{{"masterName":"{master}","urlsSettingName":"REDIS_SENTINELS"}}{extra}"#
        ))
    }

    const SENTINELS: &str = "redis://s1:26379,rediss://watch:s3cret@s2:26380";

    #[test]
    fn sentinel_is_read() {
        let url = "redis://app:p4ssw0rd@mymaster/2";
        let s = parse(
            &config(ENABLED, &via_sentinel("mymaster", "")),
            &sentinel_env(url, Some(SENTINELS)),
        )
        .unwrap();
        let o = options(&s);
        let sentinel = o.sentinel.as_ref().expect("sentinel");
        assert_eq!(sentinel.master_name, "mymaster");
        assert_eq!(sentinel.urls, SENTINELS);
        assert_eq!(o.url, url);
        assert!(!o.cluster);
        let shown = format!("{:?}", s.token_store);
        assert!(
            !shown.contains("s3cret") && !shown.contains("p4ssw0rd"),
            "{shown}"
        );
    }

    #[test]
    fn sentinel_mistakes_name_their_json_path() {
        let sentinel = "ezauth.tokenStore.redis.sentinel";
        let cases: [(String, &str, Option<&str>, String); 9] = [
            // Not a name a sentinel monitors (nor a URL host).
            (
                via_sentinel("my master", ""),
                "redis://:p4ssw0rd@mymaster",
                Some(SENTINELS),
                format!("{sentinel}.masterName"),
            ),
            (
                redis(r#","sentinel":{"urlsSettingName":"REDIS_SENTINELS"}"#),
                "redis://:p4ssw0rd@mymaster",
                Some(SENTINELS),
                format!("{sentinel}.masterName"),
            ),
            // The variable is missing, or holds something else than sentinels' URLs.
            (
                via_sentinel("mymaster", ""),
                "redis://:p4ssw0rd@mymaster",
                None,
                format!("{sentinel}.urlsSettingName"),
            ),
            (
                redis(r#","sentinel":{"masterName":"mymaster"}"#),
                "redis://:p4ssw0rd@mymaster",
                Some(SENTINELS),
                format!("{sentinel}.urlsSettingName"),
            ),
            (
                via_sentinel("mymaster", ""),
                "redis://:p4ssw0rd@mymaster",
                Some("redis://watch:s3cret@s1:26379/3"),
                format!("{sentinel}.urlsSettingName"),
            ),
            // A cluster finds its primaries itself.
            (
                via_sentinel("mymaster", r#","cluster":true"#),
                "redis://:p4ssw0rd@mymaster",
                Some(SENTINELS),
                sentinel.to_owned(),
            ),
            // The URL's host could be read as the primary's address: ambiguous, refused.
            (
                via_sentinel("mymaster", ""),
                "redis://:p4ssw0rd@10.0.0.5:6379",
                Some(SENTINELS),
                "ezauth.tokenStore.redis.urlSettingName".into(),
            ),
            (
                via_sentinel("mymaster", ""),
                "redis://:p4ssw0rd@mymaster:6379",
                Some(SENTINELS),
                "ezauth.tokenStore.redis.urlSettingName".into(),
            ),
            (
                via_sentinel("mymaster", ""),
                "redis://:p4ssw0rd@othermaster",
                Some(SENTINELS),
                "ezauth.tokenStore.redis.urlSettingName".into(),
            ),
        ];
        for (ext, url, sentinels, path) in cases {
            let e = match parse(&config(ENABLED, &ext), &sentinel_env(url, sentinels)) {
                Err(e) => e,
                Ok(_) => panic!("expected an error for {ext} {url} {sentinels:?}"),
            };
            assert_eq!(e.path, path, "{ext} {url} {sentinels:?}: {e}");
            for secret in ["p4ssw0rd", "s3cret", "10.0.0.5", "s1:26379"] {
                assert!(!e.message.contains(secret), "no URL in errors: {e}");
            }
        }
    }

    fn redis(fields: &str) -> String {
        format!(r#"{{"tokenStore":{{"redis":{{"urlSettingName":"REDIS_URL"{fields}}}}}}}"#)
    }

    const ENABLED: &str = r#"{"enabled":true}"#;
    const URL: &str = "redis://app:p4ssw0rd@127.0.0.1:6390/2";

    fn load(store: &str, ext: &str, url: Option<&str>) -> Result<Settings, ConfigError> {
        parse(&config(store, ext), &env(url))
    }

    fn error(store: &str, ext: &str, url: Option<&str>) -> ConfigError {
        match load(store, ext, url) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {ext} {url:?}"),
        }
    }

    fn options(s: &Settings) -> &RedisOptions {
        match &s.token_store {
            Some(StoreSettings::Redis(o)) => o,
            other => panic!("not Redis: {other:?}"),
        }
    }

    #[test]
    fn the_defaults_and_the_lock_bound() {
        let s = load(ENABLED, &redis(""), Some(URL)).unwrap();
        let o = options(&s);
        assert_eq!(o.url, URL);
        assert_eq!(o.key_prefix, "ezauth:");
        assert!(!o.cluster);
        assert_eq!(o.connect_timeout, Duration::from_secs(2));
        assert_eq!(o.timeout, Duration::from_secs(2));
        assert_eq!(o.staleness, Duration::from_secs(1));
        assert_eq!(o.revalidate, Duration::from_secs(60));
        assert_eq!(o.lease, Duration::from_secs(25), "2 × 10 s + 5 s");
        assert!(
            s.warnings.iter().all(|w| !w.contains("fileSystem")),
            "no directory is in play: {:?}",
            s.warnings
        );
        assert!(!format!("{:?}", s.token_store).contains("p4ssw0rd"));
    }

    #[test]
    fn every_field_is_read() {
        let ext = format!(
            r#"{{"httpTimeoutSeconds":4,{}"#,
            &redis(
                r#","keyPrefix":"site-a:","connectTimeoutSeconds":0.5,"timeoutSeconds":1.5,
                "cluster":true,"stalenessSeconds":0,"revalidateSeconds":90"#
            )[1..]
        );
        let cluster = "redis://127.0.0.1:7000,redis://127.0.0.1:7001";
        let s = load(ENABLED, &ext, Some(cluster)).unwrap();
        let o = options(&s);
        assert_eq!(o.key_prefix, "site-a:");
        assert!(o.cluster);
        assert_eq!(o.connect_timeout, Duration::from_millis(500));
        assert_eq!(o.timeout, Duration::from_millis(1500));
        assert_eq!(o.staleness, Duration::ZERO);
        assert_eq!(o.revalidate, Duration::from_secs(90));
        assert_eq!(o.lease, Duration::from_secs(13), "2 × 4 s + 5 s");
    }

    #[test]
    fn redis_wins_over_a_directory_with_a_warning() {
        let store = r#"{"enabled":true,"fileSystem":{"directory":"/var/lib/tokens"}}"#;
        let s = load(store, &redis(""), Some(URL)).unwrap();
        options(&s);
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("/var/lib/tokens") && w.contains("is not used")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn mistakes_name_their_json_path() {
        let cases: [(&str, String, Option<&str>, &str); 14] = [
            (
                ENABLED,
                redis(""),
                Some("rediss://app:p4ssw0rd@host:6380#insecure"),
                "ezauth.tokenStore.redis.urlSettingName",
            ),
            ("{}", redis(""), Some(URL), "ezauth.tokenStore.redis"),
            (
                ENABLED,
                r#"{"tokenStore":{"redis":{}}}"#.into(),
                Some(URL),
                "ezauth.tokenStore.redis.urlSettingName",
            ),
            (
                ENABLED,
                redis(""),
                None,
                "ezauth.tokenStore.redis.urlSettingName",
            ),
            (
                ENABLED,
                redis(""),
                Some("http://app:p4ssw0rd@host"),
                "ezauth.tokenStore.redis.urlSettingName",
            ),
            (
                ENABLED,
                redis(""),
                Some("redis://a:1,redis://b:2"),
                "ezauth.tokenStore.redis.urlSettingName",
            ),
            (
                ENABLED,
                redis(r#","keyPrefix":"{app}""#),
                Some(URL),
                "ezauth.tokenStore.redis.keyPrefix",
            ),
            (
                ENABLED,
                redis(r#","keyPrefix":"ezauth:lock:""#),
                Some(URL),
                "ezauth.tokenStore.redis.keyPrefix",
            ),
            (
                ENABLED,
                redis(r#","keyPrefix":"siteonce:""#),
                Some(URL),
                "ezauth.tokenStore.redis.keyPrefix",
            ),
            (
                ENABLED,
                redis(r#","timeoutSeconds":0"#),
                Some(URL),
                "ezauth.tokenStore.redis.timeoutSeconds",
            ),
            (
                ENABLED,
                redis(r#","stalenessSeconds":-1"#),
                Some(URL),
                "ezauth.tokenStore.redis.stalenessSeconds",
            ),
            (
                ENABLED,
                redis(r#","stalenessSeconds":5,"revalidateSeconds":2"#),
                Some(URL),
                "ezauth.tokenStore.redis.revalidateSeconds",
            ),
            (
                ENABLED,
                redis(r#","revalidateSeconds":3601"#),
                Some(URL),
                "ezauth.tokenStore.redis.revalidateSeconds",
            ),
            (
                ENABLED,
                redis(r#","cluster":"yes""#),
                Some(URL),
                "ezauth.tokenStore.redis.cluster",
            ),
        ];
        for (store, ext, url, path) in cases {
            let e = error(store, &ext, url);
            assert_eq!(e.path, path, "{ext} {url:?}: {e}");
            assert!(!e.message.contains("p4ssw0rd"), "the URL is a secret: {e}");
        }
        let e = error(ENABLED, &redis(""), None);
        assert!(e.message.contains("REDIS_URL"), "{e}");
    }
}
