//! The layer rule (DESIGN.md §6): dependencies between the top-level modules of `src/` point one
//! way — cli → server → router → {admin, gateway} → manage → upstream → store → leaves — so no
//! module imports one that imports it back. Read from the source, as `crate::<module>` paths.

#[path = "common/source.rs"]
mod source;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and the other top-level modules its files name.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let files = source::files(&src, "rs");
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::run` and other items of the crate root are not a module.
            let is_module = src.join(format!("{name}.rs")).exists() || src.join(&name).is_dir();
            if !name.is_empty() && name != module && is_module {
                deps.insert(name);
            }
        }
    }
    graph
}

/// A path of imports from `from` back to itself, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == from {
                let mut p = path.clone();
                p.push(next.clone());
                return Some(p);
            }
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(next.clone());
                stack.push((next.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = graph();
    assert!(
        graph.contains_key("gateway") && graph.contains_key("store"),
        "{graph:?}"
    );
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_through(&graph, m))
        .map(|p| p.join(" → "))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_store_and_the_leaves_import_nothing_above_them() {
    let graph = graph();
    let above = [
        "upstream", "manage", "gateway", "admin", "router", "server", "cli",
    ];
    for low in [
        "store",
        "domain",
        "error",
        "config",
        "crypto",
        "http",
        "lifecycle",
        "memory",
    ] {
        let deps = &graph[low];
        for high in above {
            assert!(!deps.contains(high), "{low} imports {high}: {deps:?}");
        }
    }
    for leaf in ["domain", "error", "http", "memory"] {
        assert!(
            graph[leaf].is_empty(),
            "{leaf} is a leaf: {:?}",
            graph[leaf]
        );
    }
    assert!(
        !graph["manage"].contains("gateway"),
        "{:?}",
        graph["manage"]
    );
    assert!(!graph["admin"].contains("router"), "{:?}", graph["admin"]);
}

/// Files stay small enough to read whole (the architecture issue's rule: none over 600 lines).
#[test]
fn no_source_file_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = source::files(&src, "rs")
        .into_iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(&f).unwrap().lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}
