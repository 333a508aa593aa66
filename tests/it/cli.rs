//! The binary itself: configuration errors, `check`, `migrate`, `user create`,
//! and serving with no configuration at all.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{Backend, fresh_database_url};

use crate::helpers::quire_command as quire;

/// Runs `quire check` in an empty folder with `env`, which must make it
/// fail; returns what it said.
fn check_refuses(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = quire()
        .current_dir(dir.path())
        .env("QUIRE_DATA_DIR", dir.path().join("data"))
        .envs(env.iter().copied())
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{env:?}: {stderr}");
    stderr
}

#[test]
fn a_bad_value_names_its_variable() {
    let stderr = check_refuses(&[("QUIRE_BIND", "not-an-address")]);
    assert!(stderr.contains("QUIRE_BIND"), "{stderr}");
    assert!(stderr.contains("not-an-address"), "{stderr}");

    let stderr = check_refuses(&[("QUIRE_REGISTRATION", "sometimes")]);
    assert!(
        stderr.contains("QUIRE_REGISTRATION") && stderr.contains("open"),
        "{stderr}"
    );

    let stderr = check_refuses(&[("QUIRE_SECRET_KEY", "short")]);
    assert!(
        stderr.contains("QUIRE_SECRET_KEY") && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("short\""),
        "the secret itself is not echoed: {stderr}"
    );
}

#[test]
fn postgres_requires_a_secret_key() {
    let stderr = check_refuses(&[("QUIRE_DATABASE_URL", "postgres://127.0.0.1:1/none")]);
    assert!(stderr.contains("QUIRE_SECRET_KEY is required"), "{stderr}");
}

#[test]
fn a_bad_smtp_url_stops_start_up_naming_it_without_its_password() {
    for (url, says) in [
        ("ftp://mail:hunter2@example.com", "must start with smtp://"),
        ("smtp://mail:hunter2@/", "is not a URL"),
        ("smtp://mail:hunter2@example.com?tls=maybe", "?tls=none"),
    ] {
        let stderr = check_refuses(&[("QUIRE_SMTP_URL", url)]);
        assert!(
            stderr.contains("QUIRE_SMTP_URL") && stderr.contains(says),
            "{stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the password is not repeated: {stderr}"
        );
    }
}

#[test]
fn an_unreachable_database_stops_start_up_with_a_clear_error() {
    let out = quire()
        .env("QUIRE_DATABASE_URL", "postgres://127.0.0.1:1/none")
        .env("QUIRE_SECRET_KEY", "x".repeat(40))
        .arg("serve")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("QUIRE_DATABASE_URL") && stderr.contains("could not connect"),
        "{stderr}"
    );

    let out = quire()
        .env("QUIRE_DATABASE_URL", "mysql://x/y")
        .arg("check")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported database URL scheme"),
        "{stderr}"
    );
}

#[test]
fn wait_for_db_retries_before_giving_up() {
    // Nothing listens on port 1: with --wait-for-db it keeps trying (with
    // backoff) instead of failing at once. Stop it after a moment.
    let mut child = quire()
        .env("QUIRE_DATABASE_URL", "postgres://127.0.0.1:1/none")
        .env("QUIRE_SECRET_KEY", "x".repeat(40))
        .env("RUST_LOG", "warn")
        .args(["--wait-for-db", "check"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still waiting for the database"
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database not reachable yet"), "{stderr}");
}

fn database_urls() -> Vec<(Backend, tempfile::TempDir)> {
    crate::helpers::backends()
        .into_iter()
        .map(|backend| (backend, tempfile::tempdir().unwrap()))
        .collect()
}

#[tokio::test]
async fn migrate_check_and_user_create_work_on_each_backend() {
    for (backend, dir) in database_urls() {
        let (url, _pg) = fresh_database_url(backend, dir.path()).await.unwrap();
        let run = |args: &[&str]| {
            quire()
                .env("QUIRE_DATABASE_URL", &url)
                .env("QUIRE_SECRET_KEY", "y".repeat(40))
                .env("QUIRE_DATA_DIR", dir.path())
                .args(args)
                .output()
                .unwrap()
        };
        let out = run(&["check"]);
        assert!(
            !out.status.success(),
            "{backend:?}: check fails before migrating"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pending migrations"),
            "{backend:?}"
        );

        let out = run(&["migrate", "status"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("pending"),
            "{backend:?}"
        );
        let out = run(&["migrate", "up"]);
        assert!(
            out.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&["check"]);
        assert!(
            out.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok:"));

        let mut child = quire()
            .env("QUIRE_DATABASE_URL", &url)
            .env("QUIRE_SECRET_KEY", "y".repeat(40))
            .args([
                "user",
                "create",
                "--username",
                "root",
                "--email",
                "root@example.com",
                "--admin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a long password\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("created root (Admin)"));

        let mut child = quire()
            .env("QUIRE_DATABASE_URL", &url)
            .env("QUIRE_SECRET_KEY", "y".repeat(40))
            .args([
                "user",
                "create",
                "--username",
                "root",
                "--email",
                "other@example.com",
            ])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"short\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("password is too short"));

        let out = run(&["migrate", "down", "--steps", "1"]);
        assert!(
            out.status.success(),
            "{backend:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("reverted 1"));
    }
}

#[tokio::test]
async fn serve_with_no_configuration_creates_and_migrates_data() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut child = quire()
        .current_dir(dir.path())
        .env("QUIRE_BIND", format!("127.0.0.1:{port}"))
        .arg("serve")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let mut answered = false;
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(&url).await {
            assert_eq!(response.status(), 200);
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM, as a container runtime would send.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(answered, "the server answered on {url}");
    assert!(status.success(), "exits cleanly on SIGTERM: {status:?}");
    assert!(dir.path().join("data/quire.db").exists());
    let key = std::fs::read_to_string(dir.path().join("data/secret_key")).unwrap();
    assert!(key.len() >= 32);
}

#[test]
fn a_backup_schedule_needs_a_destination() {
    let stderr = check_refuses(&[("QUIRE_BACKUP_SCHEDULE", "0 30 3 * * *")]);
    assert!(
        stderr.contains("QUIRE_BACKUP_DEST is required when QUIRE_BACKUP_SCHEDULE is set"),
        "{stderr}"
    );
}

#[test]
fn secrets_can_be_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret_key_file");
    std::fs::write(&key_file, "0123456789abcdef0123456789abcdef0123\n").unwrap();
    let key_path = key_file.to_str().unwrap();
    let data = dir.path().join("data");
    let out = quire()
        .current_dir(dir.path())
        .env("QUIRE_DATA_DIR", &data)
        .env("QUIRE_SECRET_KEY_FILE", key_path)
        .args(["migrate", "up"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = quire()
        .current_dir(dir.path())
        .env("QUIRE_DATA_DIR", &data)
        .env("QUIRE_SECRET_KEY_FILE", key_path)
        .arg("check")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        !data.join("secret_key").exists(),
        "the key came from the file, so none was generated"
    );

    std::fs::write(&key_file, "short\n").unwrap();
    let stderr = check_refuses(&[("QUIRE_SECRET_KEY_FILE", key_path)]);
    assert!(
        stderr.contains("QUIRE_SECRET_KEY") && stderr.contains("at least 32"),
        "{stderr}"
    );
    let stderr = check_refuses(&[
        ("QUIRE_SECRET_KEY_FILE", key_path),
        ("QUIRE_SECRET_KEY", "0123456789abcdef0123456789abcdef0123"),
    ]);
    assert!(
        stderr.contains("QUIRE_SECRET_KEY and QUIRE_SECRET_KEY_FILE are both set"),
        "{stderr}"
    );
    let stderr = check_refuses(&[("QUIRE_SMTP_URL_FILE", "/nonexistent/smtp_url")]);
    assert!(
        stderr.contains("QUIRE_SMTP_URL_FILE: cannot read /nonexistent/smtp_url"),
        "{stderr}"
    );
}
