//! The `ezauth` command: `keygen` prints fresh keys, `check-config FILE` validates a
//! configuration exactly as a host would load it.

use std::process::ExitCode;

use ezauth::crypto;

const USAGE: &str = "usage:
  ezauth keygen               print a fresh WEBSITE_AUTH_ENCRYPTION_KEY and WEBSITE_AUTH_SIGNING_KEY
  ezauth check-config FILE    validate an authsettingsV2 file (with this environment's secrets)
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
        ["check-config", file] => {
            match ezauth::config::load_file(
                std::path::Path::new(file),
                &ezauth::config::ProcessEnvironment,
            ) {
                Ok(settings) => {
                    for w in &settings.warnings {
                        eprintln!("{file}: warning: {w}");
                    }
                    let names: Vec<&str> =
                        settings.providers.iter().map(|p| p.name.as_str()).collect();
                    println!(
                        "{file}: OK (providers: {}; unauthenticated action: {:?}; token store: {})",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        },
                        settings.action,
                        if settings.token_store.is_some() {
                            "on"
                        } else {
                            "off"
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{file}: {e}");
                    ExitCode::from(2)
                }
            }
        }
        ["check-config", file, "--print-v2"] | ["check-config", "--print-v2", file] => {
            print_v2(file)
        }
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

/// `check-config FILE --print-v2`: the authsettingsV2 equivalent of FILE on stdout, once it
/// loads; secrets only by setting name, and notes (which variables must hold them) on stderr.
fn print_v2(file: &str) -> ExitCode {
    let env = ezauth::config::ProcessEnvironment;
    let printed = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read configuration file {file}: {e}"))
        .and_then(|text| ezauth::config::authsettings_v2(&text, &env).map_err(|e| e.to_string()))
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
