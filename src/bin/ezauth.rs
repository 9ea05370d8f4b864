//! The `ezauth` command: `keygen` prints fresh keys, `check-config FILE` validates a
//! configuration exactly as a host would load it, `store ...` operates a configured token
//! store (the work is `ezauth::store::admin`'s; here only the arguments are read).

use std::process::ExitCode;

use ezauth::crypto;

const USAGE: &str = "usage:
  ezauth keygen               print a fresh WEBSITE_AUTH_ENCRYPTION_KEY and WEBSITE_AUTH_SIGNING_KEY
  ezauth check-config FILE [--user NAME]
                              say what a host would say of an authsettingsV2 file: load it (with
                              this environment's secrets), open its token store and check that
                              NAME (the user the host's workers run as: nginx's `user`, www-data
                              on Debian; default: the user running this) can use it
  ezauth check-config FILE --print-v2
                              print the equivalent authsettingsV2 file (of a v1 file, an ARM export,
                              or, with an empty FILE such as /dev/null, of the WEBSITE_AUTH_* settings)
  ezauth store ...            list, show, remove, purge, migrate and rekey token-store entries
                              (`ezauth store --help`)
  ezauth version              print the version";

fn main() -> ExitCode {
    // Arguments that are not UTF-8 are a usage error, not a panic.
    let Some(args) = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect::<Option<Vec<String>>>()
    else {
        eprintln!("ezauth: an argument is not valid UTF-8\n{USAGE}");
        return ExitCode::from(64);
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["keygen"] => {
            for name in ["WEBSITE_AUTH_ENCRYPTION_KEY", "WEBSITE_AUTH_SIGNING_KEY"] {
                let mut key = [0u8; 32];
                crypto::random_fill(&mut key);
                println!("{name}={}", crypto::hex(&key).to_uppercase());
            }
            ExitCode::SUCCESS
        }
        ["check-config", rest @ ..] => check_config::run(rest),
        ["store", rest @ ..] => store::run(rest),
        ["version"] | ["--version"] => {
            println!("ezauth {}", ezauth::VERSION);
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(64)
        }
    }
}

/// `ezauth check-config`: one function per step, in the order a host takes them, so that each
/// refusal is the host's own message (and its exit status 2).
mod check_config {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::{Arc, Mutex};

    use ezauth::logger::{Level, Logger};
    use ezauth::pipeline::Module;
    use ezauth::store::access::Worker;

    /// What the command line asks for.
    pub struct Options {
        pub file: PathBuf,
        /// `--user NAME`: the workers' user (default: the user running the command).
        pub user: Option<String>,
        /// `--print-v2`: print the authsettingsV2 equivalent instead of checking.
        pub print_v2: bool,
    }

    pub fn run(args: &[&str]) -> ExitCode {
        let options = match parse(args) {
            Ok(o) => o,
            Err(why) => {
                eprintln!("ezauth check-config: {why}\n{}", super::USAGE);
                return ExitCode::from(64);
            }
        };
        let file = options.file.display().to_string();
        if options.print_v2 {
            return print_v2(&file);
        }
        let (warnings, log) = warnings_log();
        let loaded = load(&options.file, log);
        let own = format!("{file}: ");
        for w in warnings.lock().unwrap().iter() {
            eprintln!("{file}: warning: {}", w.strip_prefix(&own).unwrap_or(w));
        }
        let module = match loaded {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        let worker = match worker(options.user.as_deref()) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = check_store(&module, &worker) {
            eprintln!("{file}: {e}");
            return ExitCode::from(2);
        }
        println!("{file}: OK ({})", summary(&module, &worker));
        ExitCode::SUCCESS
    }

    /// `FILE [--user NAME]`, in either order.
    pub fn parse(args: &[&str]) -> Result<Options, String> {
        let (mut file, mut user, mut print_v2) = (None, None, false);
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match *arg {
                "--user" => {
                    let name = it.next().ok_or("--user needs a user name")?;
                    user = Some((*name).to_owned());
                }
                a if a.starts_with("--user=") => user = Some(a["--user=".len()..].to_owned()),
                "--print-v2" => print_v2 = true,
                a if a.starts_with("--") => return Err(format!("unknown option {a}")),
                a if file.is_none() => file = Some(PathBuf::from(a)),
                a => return Err(format!("one configuration file at a time ({a}?)")),
            }
        }
        if print_v2 && user.is_some() {
            return Err("--print-v2 checks no store: drop --user".into());
        }
        Ok(Options {
            file: file.ok_or("which configuration file?")?,
            user,
            print_v2,
        })
    }

    /// A logger that keeps the warnings (and errors) a host would log at load time.
    fn warnings_log() -> (Arc<Mutex<Vec<String>>>, Logger) {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&kept);
        let log = Logger::new(move |level, message| {
            if matches!(level, Level::Error | Level::Warn) {
                sink.lock().unwrap().push(message.to_owned());
            }
        });
        (kept, log)
    }

    /// Loads the file as a host's module does: the configuration, its secrets from this
    /// environment, the token store opened.
    fn load(file: &Path, log: Logger) -> Result<Module, String> {
        Module::from_config_file(file, log).map_err(|e| e.to_string())
    }

    /// The user the check runs as.
    fn worker(user: Option<&str>) -> Result<Worker, String> {
        match user {
            Some(name) => Worker::by_name(name),
            None => Ok(Worker::current()),
        }
    }

    /// The check nginx makes for its workers (and the C host for itself).
    fn check_store(module: &Module, worker: &Worker) -> Result<(), String> {
        module.check_store(worker)
    }

    fn summary(module: &Module, worker: &Worker) -> String {
        let settings = module.settings();
        let names: Vec<&str> = settings.providers.iter().map(|p| p.name.as_str()).collect();
        format!(
            "providers: {}; unauthenticated action: {:?}; token store: {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
            settings.action,
            if settings.token_store.is_some() {
                format!("on, usable by {}", worker.describe())
            } else {
                "off".to_owned()
            }
        )
    }

    /// `check-config FILE --print-v2`: the authsettingsV2 equivalent of FILE on stdout, once it
    /// loads; secrets only by setting name, and notes (which variables must hold them) on stderr.
    fn print_v2(file: &str) -> ExitCode {
        let env = ezauth::config::ProcessEnvironment;
        let printed = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read configuration file {file}: {e}"))
            .and_then(|text| {
                ezauth::config::authsettings_v2(&text, &env).map_err(|e| e.to_string())
            })
            .and_then(|(tree, notes)| {
                serde_json::to_string_pretty(&tree)
                    .map(|json| (json, notes))
                    .map_err(|e| e.to_string())
            });
        match printed {
            Ok((json, notes)) => {
                for n in notes {
                    eprintln!("{file}: note: {n}");
                }
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{file}: {e}");
                ExitCode::from(2)
            }
        }
    }
}

/// `ezauth store`: each subcommand's arguments read into a call of `ezauth::store::admin`.
/// Exit status: 0 done, 1 the store refused or some entries failed, 2 a configuration that
/// does not load, 64 a usage error.
mod store {
    use std::io::{IsTerminal, Write};
    use std::path::Path;
    use std::process::ExitCode;

    use ezauth::logger::{Level, Logger};
    use ezauth::store::admin::{self, commands, migrate};

    pub const USAGE: &str = "usage: ezauth store COMMAND ...
  CONFIG is an authsettingsV2 file, loaded as `ezauth check-config` loads it: its keys and
  settings (WEBSITE_AUTH_ENCRYPTION_KEY, the Redis URL setting, the SAS URL setting, ...) come
  from this environment. Commands that change a file store run as the directory's owner (the
  workers' user: sudo -u www-data ezauth store ...).

  ls CONFIG [--page-size N] [--after CURSOR]
        list entries: name, size, owner, provider, expiry (owner unknown for an entry written
        before entries named their owner), then the count; with --page-size, one page and the
        cursor of the next
  show CONFIG USER [--reveal]
        USER's record (USER: the sid:... id); tokens masked unless --reveal
  rm CONFIG USER
        remove USER's record, under USER's lock
  purge CONFIG --expired-before DATE
        remove every record whose tokens expired before DATE (RFC 3339, or YYYY-MM-DD: midnight
        UTC): its expires_on is before DATE, and if it holds a refresh token, before DATE minus
        login.tokenStore.tokenRefreshExtensionHours (the refresh route renews a session that
        long past its end, and rewrites the record). Records without expires_on are kept;
        entries of unknown owner are skipped. Checked again under each user's lock.
  migrate --from CONFIG --to CONFIG [--journal FILE] [--limit N]
        copy every entry (file, Redis, Azure Blob, any direction; both CONFIGs must have the
        same encryption keys), each under the source entry's lock, read back and compared.
        With --journal, a rerun copies only what changed at the source since, and never
        overwrites an entry changed at the destination since it was copied. --limit N stops
        after N entries (a rerun goes on).
  rekey CONFIG
        move every entry found under a previous encryption key's name to the current key
        (ezauth.previousEncryptionKeySettingNames); a rerun does nothing";

    fn usage(why: &str) -> ExitCode {
        eprintln!("ezauth store: {why}\n{USAGE}");
        ExitCode::from(64)
    }

    /// Warnings of the configuration and the store, to stderr.
    fn log() -> Logger {
        Logger::new(|level, message| {
            if matches!(level, Level::Error | Level::Warn) {
                eprintln!("warning: {message}");
            }
        })
    }

    fn load(config: &str) -> Result<admin::Loaded, ExitCode> {
        admin::load(Path::new(config), &log()).map_err(|e| {
            eprintln!("ezauth store: {e}");
            ExitCode::from(2)
        })
    }

    /// [`load`] for a command that changes the store.
    fn load_to_change(config: &str) -> Result<admin::Loaded, ExitCode> {
        let loaded = load(config)?;
        loaded.check_writer().map_err(|e| {
            eprintln!("ezauth store: {config}: {e}");
            ExitCode::from(2)
        })?;
        Ok(loaded)
    }

    fn done(result: Result<(), String>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ezauth store: {e}");
                ExitCode::from(1)
            }
        }
    }

    /// Positional arguments and `--name value` options (`--flag` for `flags`).
    struct Args<'a> {
        positional: Vec<&'a str>,
        options: Vec<(&'a str, &'a str)>,
    }

    fn split<'a>(args: &[&'a str], valued: &[&str], flags: &[&str]) -> Result<Args<'a>, String> {
        let mut out = Args {
            positional: Vec::new(),
            options: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(&arg) = it.next() {
            if let Some((name, value)) = arg.split_once('=').filter(|_| arg.starts_with("--")) {
                if !valued.contains(&name) {
                    return Err(format!("unknown option {name}"));
                }
                out.options.push((name, value));
            } else if valued.contains(&arg) {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                out.options.push((arg, value));
            } else if flags.contains(&arg) {
                out.options.push((arg, ""));
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else {
                out.positional.push(arg);
            }
        }
        for (i, (name, _)) in out.options.iter().enumerate() {
            if out.options[..i].iter().any(|(n, _)| n == name) {
                return Err(format!("{name} given twice"));
            }
        }
        Ok(out)
    }

    impl<'a> Args<'a> {
        fn get(&self, name: &str) -> Option<&'a str> {
            self.options.iter().find(|(n, _)| *n == name).map(|o| o.1)
        }

        fn has(&self, name: &str) -> bool {
            self.get(name).is_some()
        }

        fn count(&self, name: &str) -> Result<Option<usize>, String> {
            self.get(name)
                .map(|v| match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{name} must be a positive whole number, not {v:?}")),
                })
                .transpose()
        }

        /// Exactly the positional arguments `names` (for the message).
        fn exactly(&self, names: &[&str]) -> Result<&[&'a str], String> {
            if self.positional.len() == names.len() {
                Ok(&self.positional)
            } else {
                Err(format!("expected {}", names.join(" ")))
            }
        }
    }

    pub fn run(args: &[&str]) -> ExitCode {
        let Some((&command, rest)) = args.split_first() else {
            return usage("which command?");
        };
        let stdout = &mut std::io::stdout().lock();
        match command {
            "--help" | "-h" | "help" => {
                println!("{USAGE}");
                ExitCode::SUCCESS
            }
            "ls" => {
                let parsed = split(rest, &["--page-size", "--after"], &[]).and_then(|a| {
                    let size = a.count("--page-size")?;
                    if a.has("--after") && size.is_none() {
                        return Err("--after goes with --page-size".into());
                    }
                    Ok((a.exactly(&["CONFIG"])?[0], size, a.get("--after")))
                });
                let (config, size, after) = match parsed {
                    Ok(p) => p,
                    Err(e) => return usage(&e),
                };
                let loaded = match load(config) {
                    Ok(l) => l,
                    Err(code) => return code,
                };
                done(commands::ls(
                    loaded.store.as_ref(),
                    size.map(|s| (s, after)),
                    stdout,
                ))
            }
            "show" | "rm" => {
                let flags: &[&str] = if command == "show" {
                    &["--reveal"]
                } else {
                    &[]
                };
                let parsed = split(rest, &[], flags).and_then(|a| {
                    let p = a.exactly(&["CONFIG", "USER"])?;
                    Ok((p[0], p[1], a.has("--reveal")))
                });
                let (config, user, reveal) = match parsed {
                    Ok(p) => p,
                    Err(e) => return usage(&e),
                };
                let loaded = match if command == "rm" {
                    load_to_change(config)
                } else {
                    load(config)
                } {
                    Ok(l) => l,
                    Err(code) => return code,
                };
                let store = loaded.store.as_ref();
                done(match command {
                    "show" => commands::show(store, user, reveal, stdout),
                    _ => commands::rm(store, user, stdout),
                })
            }
            "purge" => {
                let parsed = split(rest, &["--expired-before"], &[]).and_then(|a| {
                    let date = a
                        .get("--expired-before")
                        .ok_or("--expired-before DATE is required")?;
                    Ok((a.exactly(&["CONFIG"])?[0], commands::parse_date(date)?))
                });
                let (config, before) = match parsed {
                    Ok(p) => p,
                    Err(e) => return usage(&e),
                };
                let loaded = match load_to_change(config) {
                    Ok(l) => l,
                    Err(code) => return code,
                };
                let extension = loaded.settings.refresh_extension.as_secs() as i64;
                done(
                    commands::purge(loaded.store.as_ref(), before, extension, stdout)
                        .and_then(failures),
                )
            }
            "rekey" => {
                let config =
                    match split(rest, &[], &[]).and_then(|a| Ok(a.exactly(&["CONFIG"])?[0])) {
                        Ok(c) => c,
                        Err(e) => return usage(&e),
                    };
                let loaded = match load_to_change(config) {
                    Ok(l) => l,
                    Err(code) => return code,
                };
                done(commands::rekey(loaded.store.as_ref(), stdout).and_then(failures))
            }
            "migrate" => migrate(rest, stdout),
            other => usage(&format!("unknown command {other:?}")),
        }
    }

    fn failures(t: commands::Tally) -> Result<(), String> {
        match t.failed {
            0 => Ok(()),
            n => Err(format!("{n} entries failed")),
        }
    }

    fn migrate(rest: &[&str], stdout: &mut dyn Write) -> ExitCode {
        let parsed = split(rest, &["--from", "--to", "--journal", "--limit"], &[]).and_then(|a| {
            a.exactly(&[])
                .map_err(|_| "migrate takes --from CONFIG --to CONFIG, no other argument")?;
            let from = a.get("--from").ok_or("--from CONFIG is required")?;
            let to = a.get("--to").ok_or("--to CONFIG is required")?;
            Ok((from, to, a.get("--journal"), a.count("--limit")?))
        });
        let (from, to, journal, limit) = match parsed {
            Ok(p) => p,
            Err(e) => return usage(&e),
        };
        // The source too: its lock files are made while entries are copied.
        let (source, destination) = match (load_to_change(from), load_to_change(to)) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(code), _) | (_, Err(code)) => return code,
        };
        if journal.is_none() {
            eprintln!(
                "ezauth store migrate: no --journal: a rerun will not tell a source changed \
                 since from a destination changed since, and keeps every entry that differs"
            );
        }
        let stderr = &mut std::io::stderr();
        let tty = stderr.is_terminal();
        let mut progress = migrate::Progress::new(stderr, tty);
        let options = migrate::Options {
            journal: journal.map(Path::new),
            limit,
        };
        let summary = match migrate::migrate(
            source.store.as_ref(),
            destination.store.as_ref(),
            &options,
            &mut progress,
        ) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ezauth store migrate: {e}");
                return ExitCode::from(1);
            }
        };
        let _ = writeln!(stdout, "{}", migrate::summary_line(&summary));
        match summary.failed {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::from(1),
        }
    }
}
