//! The layers of `src/`, checked from the source: the platform imports no
//! feature, features import each other without cycles, and only the
//! assembly (and the command line on top of it) names them all. See
//! docs/decisions.md, "Layers".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules above the features: they may import anything.
const ASSEMBLY: [&str; 4] = ["assembly.rs", "cli.rs", "main.rs", "lib.rs"];

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

/// The features a file names: `crate::features::x`, `crate::features::{x, y}`,
/// and `crate::assembly`/`crate::cli` as the pseudo-features "assembly"/"cli".
fn named_features(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut named = BTreeSet::new();
    for top in ["assembly", "cli"] {
        if code.contains(&format!("crate::{top}")) {
            named.insert(top.to_owned());
        }
    }
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::features") {
        rest = &rest[at + "crate::features".len()..];
        let after = rest.strip_prefix("::").unwrap_or("");
        if let Some(group) = after.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for name in group.split(',') {
                let name = name.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() && name != "self" {
                    named.insert(name.to_owned());
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::features;` alone names every feature.
            named.insert(if name.is_empty() { "*".into() } else { name });
        }
    }
    named
}

/// What breaks the layering in the tree at `src`, one line each.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut platform: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let source = std::fs::read_to_string(&file).unwrap();
        let named = named_features(&source);
        if ASSEMBLY.contains(&relative.as_str()) || relative == "features/mod.rs" {
            continue;
        }
        match relative.strip_prefix("features/") {
            None => {
                let module = relative.split(['/', '.']).next().unwrap().to_owned();
                for other in platform_modules_named(&source) {
                    if other != module {
                        platform.entry(module.clone()).or_default().insert(other);
                    }
                }
                for name in &named {
                    problems.push(format!(
                        "platform module src/{relative} imports {}",
                        top_name(name)
                    ));
                }
            }
            Some(path) => {
                let feature = path.split(['/', '.']).next().unwrap().to_owned();
                for name in named {
                    if name == "assembly" || name == "cli" || name == "*" {
                        problems.push(format!(
                            "feature {feature} (src/{relative}) imports {}",
                            top_name(&name)
                        ));
                    } else if name != feature {
                        graph.entry(feature.clone()).or_default().insert(name);
                    }
                }
            }
        }
    }
    problems.extend(cycles(&graph, "features"));
    problems.extend(cycles(&platform, "platform modules"));
    problems
}

/// The platform modules a file names (`crate::db`, `crate::http::…`).
fn platform_modules_named(source: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && !["features", "assembly", "cli"].contains(&name.as_str()) {
                named.insert(name);
            }
        }
    }
    named
}

fn top_name(name: &str) -> String {
    match name {
        "assembly" | "cli" => format!("crate::{name}"),
        "*" => "crate::features".into(),
        feature => format!("the feature {feature}"),
    }
}

/// Each cycle in an import graph, as "WHAT import each other: a → b → a".
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>, what: &str) -> Vec<String> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut BTreeSet<String>,
    ) {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            found.insert(cycle.join(" → "));
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        // Visited again from another start, a node on a cycle is found
        // again; `done` keeps the walk linear.
    }
    let mut found = BTreeSet::new();
    for start in graph.keys() {
        visit(
            start,
            graph,
            &mut Vec::new(),
            &mut BTreeSet::new(),
            &mut found,
        );
    }
    found
        .into_iter()
        .map(|cycle| format!("{what} import each other: {cycle}"))
        .collect()
}

#[test]
fn the_platform_imports_no_feature_and_features_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_finds_each_kind_of_violation() {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod features; use crate::features::posts;");
    write("http/pages.rs", "use crate::features::accounts::User;");
    write(
        "jobs/mod.rs",
        "use crate::features::{accounts, comments::emails};",
    );
    write(
        "features/posts/mod.rs",
        "use crate::features::visits::Visits;",
    );
    write(
        "features/visits/web.rs",
        "use crate::features::posts::Post;",
    );
    write("features/accounts/mod.rs", "use crate::assembly::router;");
    write(
        "features/comments/mod.rs",
        "// use crate::features::posts;\nuse crate::features::accounts;",
    );
    write(
        "app.rs",
        "use crate::db::Db;\nuse crate::http::health::Lifecycle;",
    );
    write("http/health.rs", "use crate::app::App;");
    write("db/mod.rs", "// use crate::app::App;");
    let mut found = violations(dir.path());
    found.sort();
    let mut expected = [
        "platform module src/http/pages.rs imports the feature accounts",
        "platform module src/jobs/mod.rs imports the feature accounts",
        "platform module src/jobs/mod.rs imports the feature comments",
        "feature accounts (src/features/accounts/mod.rs) imports crate::assembly",
        "features import each other: posts → visits → posts",
        "features import each other: visits → posts → visits",
        "platform modules import each other: app → http → app",
        "platform modules import each other: http → app → http",
    ];
    expected.sort();
    assert_eq!(found, expected);
}
