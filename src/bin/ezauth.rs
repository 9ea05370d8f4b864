//! The `ezauth` command: `keygen` prints fresh keys, `check-config FILE` validates a
//! configuration exactly as a host would load it.

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
  ezauth version              print the version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
