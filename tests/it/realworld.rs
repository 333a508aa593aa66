//! The official RealWorld conformance suite (Hurl), run against the real
//! server on each backend.

use std::path::PathBuf;
use std::process::Command;

use crate::backend_test;

fn suite() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/realworld");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hurl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 13, "the suite has 13 files");
    files
}

backend_test!(realworld_hurl_suite_passes, |app| {
    let host = app.base.as_str().trim_end_matches('/').to_owned();
    // Hurl types its variables: a hex string such as `12345678e123` is read
    // as a float and rendered as 130 digits, a username the API rightly
    // refuses (one CI run in a few hundred). A leading letter keeps it text.
    let uid = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
    let output = Command::new("hurl")
        .args(["--test", "--jobs", "1", "--variable"])
        .arg(format!("host={host}"))
        .arg("--variable")
        .arg(format!("uid={uid}"))
        .args(suite())
        .output()
        .expect("hurl is installed (./scripts/test installs it: cargo install hurl --version 8.0.1 --locked)");
    let report = String::from_utf8_lossy(&output.stderr);
    let executed = report
        .lines()
        .find_map(|l| l.strip_prefix("Executed requests:"))
        .map(|l| l.split_whitespace().next().unwrap_or("?").to_owned());
    println!(
        "{:?}: hurl executed {} requests",
        app.backend,
        executed.as_deref().unwrap_or("?")
    );
    assert!(output.status.success(), "{report}");
    assert!(report.contains("Failed files:      0"), "{report}");
});
