//! A real S3-compatible server for tests: moto's, run by s3_server.py beside
//! this file on loopback, with one bucket.

use crate::python::PythonServer;

pub struct S3Server {
    _server: PythonServer,
    pub port: u16,
    pub bucket: String,
}

impl S3Server {
    pub fn start() -> Option<Self> {
        let port = crate::smtp_sink::free_port();
        let bucket = "quire-backups".to_owned();
        let server = PythonServer::start(
            "s3_server.py",
            &[port.to_string().as_ref(), bucket.as_ref()],
        )?;
        Some(Self {
            _server: server,
            port,
            bucket,
        })
    }

    /// The standard AWS variables a client of this server needs.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// A client of the bucket, for a test to look at or tamper with what
    /// Quire stored.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{}", self.port))
            .with_allow_http(true)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .with_bucket_name(&self.bucket)
            .build()
            .unwrap()
    }
}
