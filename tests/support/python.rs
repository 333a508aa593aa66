//! Starts one of the real servers the tests talk to (SMTP, OTLP, S3), each a
//! Python program beside this file run by QUIRE_TEST_PYTHON, and stops it
//! when dropped.

pub struct PythonServer(std::process::Child);

impl PythonServer {
    /// Runs `tests/support/SCRIPT ARGS…` and waits for it to print "ready".
    /// Without QUIRE_TEST_PYTHON (a Python with the packages ./scripts/test
    /// installs) the test is skipped, except under CI, where that is a
    /// failure.
    pub fn start(script: &str, args: &[&std::ffi::OsStr]) -> Option<Self> {
        let Ok(python) = std::env::var("QUIRE_TEST_PYTHON") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "QUIRE_TEST_PYTHON must name a Python with the test servers' packages (./scripts/test sets it)"
            );
            eprintln!("skipped: QUIRE_TEST_PYTHON is not set; ./scripts/test sets it");
            return None;
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(script);
        let mut child = std::process::Command::new(python)
            .arg(path)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("QUIRE_TEST_PYTHON runs");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "{script} did not start");
        Some(Self(child))
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
