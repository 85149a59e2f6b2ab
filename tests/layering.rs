//! Issue 19: the tool's files import only from their own floor or below, in pipeline order
//! (docs/ARCHITECTURE.md, "Layers"). The test reads `src/**` as text: every `crate::NAME`
//! path in code before `#[cfg(test)]` names a module, and the module's floor must not be
//! above the file's. Grouped `use crate::{…}` imports are refused, so that every path is
//! seen. The imports still to be moved are listed in `NOT_YET`, each with the move that
//! removes it: the list may only shrink.

use std::path::{Path, PathBuf};

use crate::util::repo_path;

/// The floors, from the ground up, and the modules (a `src/` path without `.rs`) on each. A
/// file belongs to the longest module path it lies in. `notion` and `spelling` are the crate
/// `crates/notion`, re-exported by `lib.rs`: the compiler keeps it from importing the tool.
const FLOORS: &[(&str, &[&str])] = &[
    ("ground", &["exit", "spelling", "stop", "notion"]),
    ("source", &["source"]),
    ("mapping", &["mapping"]),
    ("outcome", &["outcome"]),
    ("transport", &["transport"]),
    ("scan", &["scan", "filter", "select", "mirror"]),
    ("gate", &["gate"]),
    ("dispatch", &["dispatch", "backup"]),
    ("report", &["report"]),
    ("config", &["config"]),
    ("cli", &["cli"]),
    ("cmd", &["cmd", "main", "lib"]),
];

/// Imports that still run up a floor, as (file, module it names), until the move in the
/// comment lands. Nothing may be added here.
const NOT_YET: &[(&str, &str)] = &[];

fn floor_of_module(module: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (floor, (_, modules)) in FLOORS.iter().enumerate() {
        for m in *modules {
            let inside = module == *m || module.starts_with(&format!("{m}/"));
            if inside && best.is_none_or(|(len, _)| m.len() > len) {
                best = Some((m.len(), floor));
            }
        }
    }
    best.map(|(_, floor)| floor)
}

/// The module a `src/` file is: `scan/mod.rs` is `scan`, `gate/resume.rs` is
/// `gate/resume`.
fn module_of_file(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    rel.strip_suffix("/mod").unwrap_or(rel).to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each `crate::a::b` path of the code before `#[cfg(test)]`, as the longest module path it
/// can name (`a/b` when `src/a/b.rs` or `src/a/b/` exists, else `a`), with its line.
fn imports(src: &Path, text: &str) -> Vec<(usize, String)> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let line = line.split("//").next().unwrap_or_default();
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let path: Vec<&str> = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default()
                .split("::")
                .take_while(|s| !s.is_empty())
                .collect();
            let Some(first) = path.first() else { continue };
            let mut module = first.to_string();
            if let Some(second) = path.get(1) {
                let deeper = format!("{first}/{second}");
                if src.join(format!("{deeper}.rs")).exists() || src.join(&deeper).is_dir() {
                    module = deeper;
                }
            }
            found.push((n + 1, module));
        }
    }
    found
}

/// Every import that runs up a floor: (file, line, module named, file's floor, its floor).
fn upward_imports(src: &Path) -> Vec<(String, usize, String, &'static str, &'static str)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut up = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own = floor_of_module(&module_of_file(&rel))
            .unwrap_or_else(|| panic!("src/{rel} is on no floor: add it to FLOORS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, module) in imports(src, &text) {
            let Some(floor) = floor_of_module(&module) else {
                panic!("src/{rel}:{line} names crate::{module}, which is on no floor");
            };
            if floor > own {
                up.push((rel.clone(), line, module, FLOORS[own].0, FLOORS[floor].0));
            }
        }
    }
    up
}

#[test]
fn each_file_imports_only_from_its_floor_or_below() {
    let src = repo_path("src");
    let mut grouped = Vec::new();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if text.contains("use crate::{") {
            grouped.push(file.display().to_string());
        }
    }
    assert!(
        grouped.is_empty(),
        "grouped crate imports hide their paths: {grouped:?}"
    );
    let up = upward_imports(&src);
    let new: Vec<String> = up
        .iter()
        .filter(|(file, _, module, _, _)| !NOT_YET.iter().any(|(f, m)| f == file && m == module))
        .map(|(file, line, module, own, floor)| {
            format!("src/{file}:{line} ({own}) imports crate::{module} ({floor}), a floor above")
        })
        .collect();
    assert!(
        new.is_empty(),
        "imports against the pipeline's direction (docs/ARCHITECTURE.md, Layers):\n{}",
        new.join("\n")
    );
    // The list of imports not yet moved only shrinks: each entry must still be true.
    let stale: Vec<&(&str, &str)> = NOT_YET
        .iter()
        .filter(|(f, m)| {
            !up.iter()
                .any(|(file, _, module, _, _)| file == f && module == m)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "moved: take these out of NOT_YET: {stale:?}"
    );
}

/// The check itself: an import of the dispatcher from the mapping is found, with its line.
#[test]
fn an_import_against_the_direction_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("mapping")).unwrap();
    std::fs::create_dir_all(src.join("dispatch")).unwrap();
    std::fs::write(src.join("dispatch/mod.rs"), "pub struct Job;\n").unwrap();
    std::fs::write(
        src.join("mapping/mod.rs"),
        "use crate::notion::NotionId;\n// crate::report in a comment\nuse crate::dispatch::Job;\n#[cfg(test)]\nmod tests { use crate::report::Outcome; }\n",
    )
    .unwrap();
    let up = upward_imports(src);
    assert_eq!(
        up,
        [(
            "mapping/mod.rs".to_owned(),
            3,
            "dispatch".to_owned(),
            "mapping",
            "dispatch"
        )]
    );
}

/// The modules under `src/` (`scan`, `gate`, `notion.rs`'s `notion`, …) and which others each
/// names, from the code before `#[cfg(test)]`.
fn module_graph(
    src: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let own = module_of_file(&rel).split('/').next().unwrap().to_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let names = graph.entry(own.clone()).or_default();
        for (_, module) in imports(src, &text) {
            let top = module.split('/').next().unwrap().to_owned();
            if top != own {
                names.insert(top);
            }
        }
    }
    graph
}

/// A circle of modules naming each other, if there is one (`a -> b -> a`).
fn circle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = Default::default();
    graph
        .keys()
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_import_each_other_even_on_one_floor() {
    let graph = module_graph(&repo_path("src"));
    assert!(
        graph.contains_key("gate") && graph["cmd"].contains("gate"),
        "{graph:?}"
    );
    assert_eq!(
        circle(&graph),
        None,
        "modules importing each other, in a circle"
    );
}

#[test]
fn a_circle_of_modules_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("keys.rs"), "use crate::mapping::cell;\n").unwrap();
    std::fs::create_dir_all(src.join("mapping")).unwrap();
    std::fs::write(src.join("mapping/mod.rs"), "use crate::keys::RowKey;\n").unwrap();
    std::fs::write(src.join("mapping/cell.rs"), "use crate::notion::Id;\n").unwrap();
    let found = circle(&module_graph(src)).expect("a circle");
    assert_eq!(found, ["keys", "mapping", "keys"]);
}
