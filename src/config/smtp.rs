//! `QUIRE_SMTP_URL`: where and how email is sent.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::ConfigError;

/// `QUIRE_SMTP_URL` as given. It holds a password, so like [`SecretKey`] it
/// is parsed after clap (which quotes the values it refuses), by
/// [`SmtpUrl::settings`], whose errors never repeat it.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl([redacted])")
    }
}

impl FromStr for SmtpUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://`: plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// `smtp://…?tls=none`: no encryption at all.
    None,
}

/// Where and how to send email.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
}

/// Never shows the password.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl SmtpUrl {
    pub fn settings(&self) -> Result<SmtpSettings, ConfigError> {
        let error = |message: &str| ConfigError {
            variable: "QUIRE_SMTP_URL",
            message: message.to_owned(),
        };
        let url = Url::parse(&self.0)
            .map_err(|_| error("is not a URL like smtp://user:password@mail.example.com:587"))?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Implicit,
            _ => {
                return Err(error(
                    "must start with smtp:// (STARTTLS) or smtps:// (TLS)",
                ));
            }
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if tls == SmtpTls::StartTls => tls = SmtpTls::None,
                ("tls", "required") => {}
                _ => return Err(error("accepts only the option ?tls=none (with smtp://)")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| error("has no host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(match tls {
            SmtpTls::Implicit => 465,
            _ => 587,
        });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| error("has a user name or password that is not UTF-8"))
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(SmtpSettings {
            host,
            port,
            tls,
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smtp(url: &str) -> Result<SmtpSettings, String> {
        SmtpUrl(url.to_owned())
            .settings()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn smtp_urls() {
        let s = smtp("smtp://me%40x.org:p%3Ass@mail.example.com").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.com", 587, SmtpTls::StartTls)
        );
        assert_eq!(s.credentials, Some(("me@x.org".into(), "p:ss".into())));
        let s = smtp("smtps://mail.example.com").unwrap();
        assert_eq!(
            (s.port, s.tls, s.credentials),
            (465, SmtpTls::Implicit, None)
        );
        let s = smtp("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!((s.port, s.tls), (2525, SmtpTls::None));
        for bad in [
            "mail.example.com",
            "http://x",
            "smtps://x?tls=none",
            "smtp://x?debug=1",
        ] {
            let Err(error) = smtp(bad) else {
                panic!("{bad} was accepted");
            };
            assert!(error.starts_with("QUIRE_SMTP_URL"), "{error}");
        }
    }
}
