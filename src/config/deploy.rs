//! `quire check --deploy`: what in the settings is unsafe, or worth a second
//! look, before serving the public.

use std::fmt;

use super::{SecretOrigin, Settings, SmtpTls, Switch};

/// Something `quire check --deploy` has to say about a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Error(String),
    Warning(String),
}

impl Finding {
    pub fn is_error(&self) -> bool {
        matches!(self, Finding::Error(_))
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Error(m) => write!(f, "error: {m}"),
            Finding::Warning(m) => write!(f, "warning: {m}"),
        }
    }
}

/// What is unsafe, or worth a second look, before serving the public.
pub fn deploy_findings(settings: &Settings, rust_log: Option<&str>) -> Vec<Finding> {
    use Finding::{Error, Warning};
    let mut findings = Vec::new();
    match settings.secret.origin {
        SecretOrigin::DataDir => findings.push(Warning(
            "QUIRE_SECRET_KEY is unset: the key generated into DATA_DIR/secret_key is used; \
             set it, so that every replica and every restore has the same one"
                .into(),
        )),
        SecretOrigin::Configured => {
            let distinct: std::collections::HashSet<u8> =
                settings.secret.key.expose().iter().copied().collect();
            if distinct.len() < 10 {
                findings.push(Error(
                    "QUIRE_SECRET_KEY looks like a placeholder (fewer than 10 different characters); \
                     generate one with `openssl rand -hex 32`"
                        .into(),
                ));
            }
        }
    }
    match &settings.http.configured_public_url {
        None => findings.push(Error(
            "QUIRE_PUBLIC_URL is unset: links in emails would point at http://BIND; \
             set the https:// address readers use"
                .into(),
        )),
        Some(url) if url.scheme() != "https" => findings.push(Error(format!(
            "QUIRE_PUBLIC_URL is {url}: without https, passwords and sessions travel \
             unencrypted and cookies are not marked Secure"
        ))),
        Some(_) => {}
    }
    if !settings.database.is_postgres() && settings.http.replicas > 1 {
        findings.push(Error(format!(
            "QUIRE_REPLICAS is {} but the database is SQLite, a file one process serves; \
             use PostgreSQL for several replicas",
            settings.http.replicas
        )));
    }
    match &settings.mail.smtp {
        None => findings.push(Warning(
            "QUIRE_SMTP_URL is unset: emails are written to DATA_DIR/outbox instead of \
             being sent, so nobody gets a password reset, and nobody after the first account \
             can finish registering on the site"
                .into(),
        )),
        Some(smtp)
            if smtp.tls == SmtpTls::None
                && !matches!(smtp.host.as_str(), "localhost" | "127.0.0.1" | "::1") =>
        {
            findings.push(Warning(format!(
                "QUIRE_SMTP_URL has ?tls=none for {}: email and the SMTP password cross the \
                 network unencrypted",
                smtp.host
            )))
        }
        Some(_) => {}
    }
    if settings.http.rate_limits == Switch::Off {
        findings.push(Error(
            "QUIRE_RATE_LIMITS is off: any client may register, ask for password resets \
             and check passwords as fast as it likes; it is meant for test suites"
                .into(),
        ));
    }
    if settings.jobs.backup_schedule.is_none() {
        findings.push(Warning(
            "QUIRE_BACKUP_SCHEDULE is unset: no periodic backups (or make them outside Quire)"
                .into(),
        ));
    }
    if rust_log.is_some_and(|l| l.contains("debug") || l.contains("trace")) {
        findings.push(Warning(
            "RUST_LOG asks for debug logs: they are large and may hold personal data".into(),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Settings {
        #[derive(clap::Parser)]
        struct Test {
            #[command(flatten)]
            flags: super::super::Flags,
        }
        let mut argv = vec!["quire"];
        argv.extend_from_slice(args);
        <Test as clap::Parser>::parse_from(argv)
            .flags
            .settings()
            .expect("valid settings")
    }

    #[test]
    fn deploy_findings_name_what_is_unsafe() {
        let safe = settings(&[
            "--database-url",
            "postgres://db/quire",
            "--secret-key",
            "3f9a1c7e5b2d8f4a6c0e1b3d5f7a9c2e",
            "--public-url",
            "https://blog.example.com",
            "--smtp-url",
            "smtps://mail.example.com",
            "--replicas",
            "3",
            "--backup-schedule",
            "0 30 3 * * *",
            "--backup-dest",
            "/backups",
        ]);
        assert_eq!(deploy_findings(&safe, Some("info")), vec![]);
        let unsafe_ = settings(&[
            "--secret-key",
            &"a".repeat(40),
            "--public-url",
            "http://blog.example.com",
            "--replicas",
            "2",
            "--rate-limits",
            "off",
        ]);
        let findings: Vec<String> = deploy_findings(&unsafe_, Some("debug"))
            .iter()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(findings.len(), 7, "{findings:#?}");
        for (finding, names) in findings.iter().zip([
            "error: QUIRE_SECRET_KEY",
            "error: QUIRE_PUBLIC_URL",
            "error: QUIRE_REPLICAS",
            "warning: QUIRE_SMTP_URL",
            "error: QUIRE_RATE_LIMITS",
            "warning: QUIRE_BACKUP_SCHEDULE",
            "warning: RUST_LOG",
        ]) {
            assert!(finding.starts_with(names), "{finding}");
        }
    }
}
