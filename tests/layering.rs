//! The import direction of the crate's modules: each module may use modules of its own layer
//! or below, never one above. The pipeline depends on the routes, the routes on the `App`
//! context, and nothing below knows the pipeline; a `use crate::pipeline` from a route (the
//! cycle this replaced) fails here. Read from the sources, so it needs no build-time hook.

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom. Modules in one layer may use each other; the `domain` layer's modules still
/// refer to each other in both directions (config ↔ session ↔ store, http ↔ session), which
/// this test tolerates until they are untangled.
const LAYERS: &[(&str, &[&str])] = &[
    ("c-abi", &["ffi", "fuzzing"]),
    ("pipeline", &["pipeline"]),
    ("routes", &["routes"]),
    ("app", &["app", "reply"]),
    (
        "domain",
        &[
            "challenge",
            "config",
            "headers",
            "http",
            "providers",
            "redirect",
            "session",
            "store",
        ],
    ),
    (
        "foundation",
        &[
            "cache", "clock", "crypto", "flight", "io", "logger", "metrics", "outbound", "paths",
            "replay",
        ],
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// The top-level modules a source file names through `crate::` paths (in `use` lines and
/// inline paths, grouped `use crate::{a, b::c}` included). Comment lines are skipped: a doc
/// link is not a dependency.
fn crate_refs(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        // `ezauth_crate::x` or `my_crate::x` are not this crate.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                    _ => item.push(c),
                }
            }
            items.push(item);
            for it in items {
                let head: String = it
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() && head != "self" {
                    out.insert(head);
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !head.is_empty() {
                out.insert(head);
            }
        }
    }
    out
}

/// Every `(file, module, used)` edge that points to a higher layer, and every module that
/// is in no layer.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (file, source) in files {
        let module = module_of(file);
        let Some(own) = layer_of(&module) else {
            bad.push(format!(
                "{file}: module `{module}` is in no layer of LAYERS"
            ));
            continue;
        };
        for used in crate_refs(source) {
            if used == module || used == "VERSION" {
                continue;
            }
            match layer_of(&used) {
                None => bad.push(format!(
                    "{file}: uses `crate::{used}`, which is in no layer"
                )),
                Some(l) if l < own => bad.push(format!(
                    "{file}: `{module}` ({}) uses `crate::{used}` ({}), a layer above",
                    LAYERS[own].0, LAYERS[l].0
                )),
                Some(_) => {}
            }
        }
    }
    bad
}

/// `src/routes/login.rs` → `routes`; `src/http.rs` → `http`.
fn module_of(file: &str) -> String {
    let rel = file.strip_prefix("src/").unwrap_or(file);
    let first = rel.split('/').next().unwrap_or(rel);
    first.strip_suffix(".rs").unwrap_or(first).to_owned()
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), root, &mut files);
    // The crate root declares the modules; the binary is a separate crate using the library.
    files.retain(|(f, _)| f != "src/lib.rs" && !f.starts_with("src/bin/"));
    assert!(files.len() > 30, "found only {} source files", files.len());
    let bad = violations(&files);
    assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
}

#[test]
fn every_declared_module_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            l.strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert!(declared.contains(&"pipeline"), "{declared:?}");
    for m in declared {
        assert!(
            layer_of(m).is_some(),
            "module `{m}` is in no layer of LAYERS"
        );
    }
}

/// The checker itself: each spelling of an upward reference is caught, downward and
/// same-layer ones are not.
#[test]
fn the_checker_catches_upward_references() {
    let upward = [
        "use crate::pipeline::Module;\n",
        "use crate::{http::Request, pipeline::Module};\n",
        "use crate::{\n    http,\n    pipeline,\n};\n",
        "fn f(m: &crate::pipeline::Module) {}\n",
        "use crate::{routes::{self, Ctx}};\n",
    ];
    for (i, src) in upward.iter().enumerate() {
        let bad = violations(&[("src/app.rs".into(), (*src).into())]);
        assert_eq!(bad.len(), 1, "variant {i}: {src:?} gave {bad:?}");
    }
    let fine = [
        "use crate::http::{Origin, Outcome};\nuse crate::reply;\n",
        "// see crate::pipeline::Module\n/// [`crate::routes::dispatch`]\nuse crate::session;\n",
        "use my_crate::pipeline;\n",
    ];
    for (i, src) in fine.iter().enumerate() {
        let bad = violations(&[("src/app.rs".into(), (*src).into())]);
        assert!(bad.is_empty(), "variant {i}: {src:?} gave {bad:?}");
    }
    let unknown = violations(&[("src/newthing.rs".into(), String::new())]);
    assert_eq!(unknown.len(), 1, "{unknown:?}");
}
