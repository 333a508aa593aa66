//! Requests to other servers, which anyone on the fediverse can make us
//! send (an activity names an actor, the actor names an inbox): only to
//! public addresses, never to private, loopback or link-local ones (the
//! site's own network: its database, cloud metadata), checked for every
//! address a name resolves to and at every redirect; at most a few
//! redirects, a short timeout, and documents of a bounded size.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{ACCEPT, USER_AGENT};
use url::Url;

/// The largest document we read: actors and notes are a few kilobytes,
/// avatars tens.
pub const MAX_DOCUMENT: usize = 1024 * 1024;

/// How long a whole request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

const MAX_REDIRECTS: usize = 3;

/// What ActivityPub servers answer with their JSON-LD documents.
pub const ACTIVITY_JSON: &str = "application/activity+json";
const ACCEPT_ACTIVITY: &str = r#"application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams""#;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0} is not an address we fetch from (https, or loopback in tests)")]
    Refused(String),
    #[error("{url} could not be fetched: {error}")]
    Failed { url: String, error: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{0} is larger than {MAX_DOCUMENT} bytes")]
    TooLarge(String),
    #[error("{0} is not a JSON document")]
    NotJson(String),
    #[error("{0} is not an image")]
    NotImage(String),
    #[error("{0} names no ActivityPub actor")]
    NoActor(String),
}

impl FetchError {
    /// Worth trying again later: the server may answer then.
    pub fn is_temporary(&self) -> bool {
        match self {
            FetchError::Failed { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The client every request to another server goes through.
#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    allow_loopback: bool,
}

impl Fetcher {
    pub fn new(allow_loopback: bool) -> Self {
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if let Err(e) = check_url(attempt.url(), allow_loopback) {
                attempt.error(e.to_string())
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(redirects)
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            // A proxy in the environment would resolve names itself,
            // past the check above.
            .no_proxy()
            .build()
            .expect("the HTTP client's settings are valid");
        Self {
            http,
            allow_loopback,
        }
    }

    /// Whether we would send a request to `url` at all.
    pub fn check(&self, url: &Url) -> Result<(), FetchError> {
        check_url(url, self.allow_loopback)
    }

    /// An ActivityPub document, unsigned (most servers serve public
    /// objects to anyone).
    pub async fn get_json(&self, url: &Url) -> Result<serde_json::Value, FetchError> {
        let (_, body) = self.get(url, ACCEPT_ACTIVITY).await?;
        serde_json::from_slice(&body).map_err(|_| FetchError::NotJson(url.to_string()))
    }

    /// The id of the actor `user@host`, by WebFinger. Over https; plain
    /// http only to a loopback host when tests allow it.
    pub async fn webfinger(&self, user: &str, host: &str) -> Result<Url, FetchError> {
        let on_loopback = host
            .rsplit_once(':')
            .map_or(host, |(name, _)| name)
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        let scheme = if self.allow_loopback && on_loopback {
            "http"
        } else {
            "https"
        };
        let mut url = Url::parse(&format!("{scheme}://{host}/.well-known/webfinger"))
            .map_err(|_| FetchError::Refused(host.to_owned()))?;
        url.query_pairs_mut()
            .append_pair("resource", &format!("acct:{user}@{host}"));
        let (_, body) = self
            .get(&url, "application/jrd+json, application/json")
            .await?;
        let jrd: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| FetchError::NotJson(url.to_string()))?;
        jrd.get("links")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter(|link| link.get("rel").and_then(|r| r.as_str()) == Some("self"))
            .filter(|link| {
                link.get("type").and_then(|t| t.as_str()).is_some_and(|t| {
                    t.starts_with(ACTIVITY_JSON) || t.starts_with("application/ld+json")
                })
            })
            .find_map(|link| Url::parse(link.get("href")?.as_str()?).ok())
            .ok_or_else(|| FetchError::NoActor(format!("{user}@{host}")))
    }

    /// A picture (an actor's avatar): what the server says is an image,
    /// for `media::adopt` to check and make again.
    pub async fn get_image(&self, url: &Url) -> Result<Bytes, FetchError> {
        let (content_type, body) = self.get(url, "image/*").await?;
        if !content_type.starts_with("image/") {
            return Err(FetchError::NotImage(url.to_string()));
        }
        Ok(body.into())
    }

    /// The body of a GET and its content type.
    async fn get(&self, url: &Url, accept: &str) -> Result<(String, Vec<u8>), FetchError> {
        self.check(url)?;
        let failed = |error: reqwest::Error| FetchError::Failed {
            url: url.to_string(),
            error: error.without_url().to_string(),
        };
        let response = self
            .http
            .get(url.clone())
            .header(ACCEPT, accept)
            .header(USER_AGENT, user_agent())
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok((content_type, read_bounded(response, url).await?))
    }

    /// POSTs a signed activity to an inbox; `headers` (from
    /// `signatures::sign`) carry its content type.
    pub async fn post(
        &self,
        url: &Url,
        headers: Vec<(&'static str, String)>,
        body: Bytes,
    ) -> Result<(), FetchError> {
        self.check(url)?;
        let mut request = self.http.post(url.clone()).header(USER_AGENT, user_agent());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|error| FetchError::Failed {
                url: url.to_string(),
                error: error.without_url().to_string(),
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            })
        }
    }
}

fn user_agent() -> &'static str {
    concat!("Quire/", env!("CARGO_PKG_VERSION"), " (ActivityPub)")
}

/// The body, up to [`MAX_DOCUMENT`] bytes: a larger one is refused
/// without reading the rest.
async fn read_bounded(mut response: reqwest::Response, url: &Url) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT as u64)
    {
        return Err(FetchError::TooLarge(url.to_string()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Failed {
        url: url.to_string(),
        error: e.without_url().to_string(),
    })? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(FetchError::TooLarge(url.to_string()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// https to anywhere public; plain http only to loopback when tests allow
/// it. An address written as an IP is checked here (no name to resolve).
fn check_url(url: &Url, allow_loopback: bool) -> Result<(), FetchError> {
    let refused = || FetchError::Refused(url.to_string());
    let host = url.host().ok_or_else(refused)?;
    let ip = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(name) => (name == "localhost").then_some(IpAddr::from([127, 0, 0, 1])),
    };
    if let Some(ip) = ip
        && !is_reachable(ip, allow_loopback)
    {
        return Err(refused());
    }
    let loopback = ip.is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback && allow_loopback => Ok(()),
        _ => Err(refused()),
    }
}

/// Whether a request may go to `ip`: public unicast addresses only, and
/// loopback when tests allow it.
pub fn is_reachable(ip: IpAddr, allow_loopback: bool) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if ip.is_loopback() {
        return allow_loopback;
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // "This network" and reserved for future use.
                || a == 0
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            // Unique local fc00::/7, link-local fe80::/10.
            !((first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names as the system does, keeping only the addresses
/// [`is_reachable`] allows: a name that points inside is refused even if
/// it pointed outside when the activity was checked.
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let kept: Vec<SocketAddr> = found
                .filter(|addr| is_reachable(addr.ip(), allow_loopback))
                .collect();
            if kept.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reached() {
        for (ip, ok) in [
            ("93.184.216.34", true),
            ("2606:4700::1111", true),
            ("127.0.0.1", false),
            ("::1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:127.0.0.1", false),
            ("224.0.0.1", false),
        ] {
            assert_eq!(is_reachable(ip.parse().unwrap(), false), ok, "{ip}");
        }
        assert!(is_reachable("127.0.0.1".parse().unwrap(), true));
        assert!(!is_reachable("10.0.0.1".parse().unwrap(), true));
    }

    #[test]
    fn plain_http_only_to_loopback_in_tests() {
        let check = |url: &str, loopback| check_url(&Url::parse(url).unwrap(), loopback).is_ok();
        assert!(check("https://mastodon.social/users/a", false));
        assert!(!check("http://mastodon.social/users/a", false));
        assert!(!check("http://127.0.0.1:3000/users/a", false));
        assert!(check("http://127.0.0.1:3000/users/a", true));
        assert!(!check("http://mastodon.social/users/a", true));
        assert!(!check("https://169.254.169.254/latest", true));
        assert!(!check("https://[::1]/x", false));
        assert!(!check("ftp://example.com/x", false));
    }
}
