//! Property-based checks of the API against its own OpenAPI document:
//! schemathesis generates requests from the document and fails on any 5xx
//! or any response the document does not describe.

use std::process::Command;

use crate::backend_test;

/// Examples per operation: enough to find shape mismatches, bounded so the
/// run takes seconds.
const EXAMPLES: &str = "25";

backend_test!(
    schemathesis_finds_no_server_errors_or_schema_violations,
    |app| {
        let token = app.api_register("fuzzer").await;
        let st = std::env::var("QUIRE_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
        let output = Command::new(&st)
        .arg("run")
        .arg(app.url("/api/openapi.json").as_str())
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples",
            EXAMPLES,
            "--seed",
            "20261122",
            "--max-response-time",
            "5",
            "--header",
        ])
        .arg(format!("Authorization: Token {token}"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| panic!("{st} could not run ({e}): ./scripts/test installs schemathesis"));
        let report = String::from_utf8_lossy(&output.stdout);
        let summary = report
            .lines()
            .find(|l| l.contains(" generated, "))
            .unwrap_or("no summary")
            .trim();
        println!("{:?}: schemathesis: {summary}", app.backend);
        assert!(
            output.status.success(),
            "{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
);
