//! A real SMTP server for tests and benchmarks: aiosmtpd, run by
//! smtp_sink.py beside this file, on loopback. Shared by the integration
//! tests and the benchmarks through `#[path]`.

use crate::python::PythonServer;

/// A real SMTP server (aiosmtpd, run by smtp_sink.py) on
/// loopback, keeping what it receives.
pub struct SmtpSink {
    _server: PythonServer,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// An email as the SMTP server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
    /// When this server took it (seconds since the epoch); 0 for an
    /// outbox file.
    pub received_at: f64,
}

impl Received {
    /// Reads an `.eml` file: what this server keeps, or what Quire writes
    /// to DATA_DIR/outbox without an SMTP server.
    pub fn read(path: &std::path::Path) -> Self {
        let bytes = std::fs::read(path).unwrap();
        let message = mail_parser::MessageParser::default()
            .parse(&bytes)
            .expect("a parseable email");
        Received {
            to: message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned(),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
            list_unsubscribe: message
                .header_raw("List-Unsubscribe")
                .map(|v| v.trim().to_owned()),
            list_unsubscribe_post: message
                .header_raw("List-Unsubscribe-Post")
                .map(|v| v.trim().to_owned()),
            received_at: message
                .header_raw("X-Received-At")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0),
        }
    }

    /// The link in the text that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} link in {}", self.text))
            .to_owned()
    }
}

/// The `.eml` files in a folder, in no particular order.
pub fn emails_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpSink {
    /// Starts one, or says why not: it needs a Python with aiosmtpd in
    /// QUIRE_TEST_PYTHON, which ./scripts/test provides. Without one the
    /// test is skipped, except under CI, where that is a failure.
    pub fn start() -> Option<Self> {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let server = PythonServer::start(
            "smtp_sink.py",
            &[port.to_string().as_ref(), dir.path().as_os_str()],
        )?;
        Some(Self {
            _server: server,
            port,
            dir,
        })
    }

    /// For `--smtp-url`: plain SMTP, as this local server speaks.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Makes it wait this long before accepting each recipient (0: don't).
    pub fn set_delay(&self, seconds: f64) {
        let flag = self.dir.path().join("slow");
        if seconds > 0.0 {
            std::fs::write(flag, seconds.to_string()).unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    /// Refuses these recipients: (address, SMTP code, how many times or
    /// `None` for always); see smtp_sink.py.
    pub fn refuse(&self, rules: &[(&str, u16, Option<u32>)]) {
        let text: Vec<String> = rules
            .iter()
            .map(|(address, code, times)| match times {
                Some(times) => format!("{address} {code} {times}"),
                None => format!("{address} {code}"),
            })
            .collect();
        std::fs::write(self.dir.path().join("refuse"), text.join("\n")).unwrap();
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut files = emails_in(self.dir.path());
        files.sort();
        files.iter().map(|path| Received::read(path)).collect()
    }

    /// Waits until at least `count` emails have arrived (at most 30 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..600 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "expected {count} emails, got {:?}",
            self.received()
                .iter()
                .map(|r| &r.subject)
                .collect::<Vec<_>>()
        );
    }
}
