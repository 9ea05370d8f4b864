//! The `ezauth` command: `keygen` prints fresh keys, `check-config FILE` validates a
//! configuration exactly as a host would load it.

use std::process::ExitCode;

use ezauth::crypto;

const USAGE: &str = "usage:
  ezauth keygen               print a fresh WEBSITE_AUTH_ENCRYPTION_KEY and WEBSITE_AUTH_SIGNING_KEY
  ezauth check-config FILE    validate an authsettingsV2 file (with this environment's secrets)
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
