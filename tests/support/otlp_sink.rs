//! A real OTLP/HTTP trace receiver for tests: otlp_sink.py beside this file,
//! which decodes exports with the OpenTelemetry project's protocol package.

use crate::python::PythonServer;

/// The receiver, keeping every span it is sent.
pub struct OtlpSink {
    _server: PythonServer,
    pub port: u16,
    file: tempfile::NamedTempFile,
}

/// A span as the receiver decoded it (ids in lowercase hex; a root span's
/// parent is "").
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedSpan {
    pub service: Option<String>,
    pub name: String,
    pub kind: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub links: Vec<Link>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
}

impl OtlpSink {
    pub fn start() -> Option<Self> {
        let port = crate::smtp_sink::free_port();
        let file = tempfile::NamedTempFile::new().unwrap();
        let server = PythonServer::start(
            "otlp_sink.py",
            &[port.to_string().as_ref(), file.path().as_os_str()],
        )?;
        Some(Self {
            _server: server,
            port,
            file,
        })
    }

    /// For OTEL_EXPORTER_OTLP_ENDPOINT.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let text = std::fs::read_to_string(self.file.path()).unwrap();
        // Only whole lines: the receiver may be writing the next export.
        let whole = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        whole
            .lines()
            .map(|line| serde_json::from_str(line).expect("the receiver writes JSON lines"))
            .collect()
    }

    /// Waits (at most 30 s) until the spans received satisfy `done`.
    pub async fn wait_until(&self, done: impl Fn(&[ReceivedSpan]) -> bool) -> Vec<ReceivedSpan> {
        for _ in 0..300 {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the spans never arrived; received: {:#?}", self.spans());
    }
}
