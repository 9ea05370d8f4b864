//! Replays every committed fuzz corpus (fuzz/corpus/<target>/*) through its target in the
//! normal test run: inputs a fuzzer once found interesting must keep passing. A target panics
//! on a bug, so the test fails.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("session_cookie", ezauth::fuzzing::session_cookie),
    ("jwt", ezauth::fuzzing::jwt),
    ("jwks", ezauth::fuzzing::jwks),
    ("config", ezauth::fuzzing::config),
    ("redirect", ezauth::fuzzing::redirect),
    ("params", ezauth::fuzzing::params),
    ("request", ezauth::fuzzing::request),
    ("paths", ezauth::fuzzing::paths),
    ("scrub", ezauth::fuzzing::scrub),
];

#[test]
fn every_corpus_file_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name}: empty corpus");
        for file in &files {
            target(&std::fs::read(file).unwrap());
        }
        eprintln!("{name}: {} inputs", files.len());
    }
}

#[test]
fn every_fuzz_target_is_replayed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = file.trim_end_matches(".rs");
        assert!(
            TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz target {name} has no replay"
        );
    }
}
