//! HTTP Signatures as the fediverse uses them (draft-cavage-http-signatures
//! 12, what Mastodon sends and checks): RSA with SHA-256 over the request
//! target, `Host`, `Date` and the body's `Digest`. Signing and checking are
//! ring's (constant time); key pairs are made and read by the `rsa` crate,
//! which ring cannot do (docs/decisions.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// How far a signed request's `Date` may be from our clock, either way: a
/// replay of a captured request is refused after this (and, before, by the
/// activity's id, which is taken once).
pub const CLOCK_SKEW: time::Duration = time::Duration::hours(1);

/// The headers we sign, in order, for a request with a body.
const SIGNED_WITH_BODY: &str = "(request-target) host date digest content-type";
const SIGNED_WITHOUT_BODY: &str = "(request-target) host date";

/// An actor's key pair, as PEM text: the public key is published in the
/// actor's document, the private one never leaves the database.
pub struct KeyPair {
    pub public_pem: String,
    pub private_pem: String,
}

impl KeyPair {
    /// A new 2048-bit RSA pair. Takes a good fraction of a second: call it
    /// off the async threads.
    pub fn generate() -> anyhow::Result<Self> {
        let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)?;
        Ok(Self {
            public_pem: private.to_public_key().to_public_key_pem(LineEnding::LF)?,
            private_pem: private.to_pkcs8_pem(LineEnding::LF)?.to_string(),
        })
    }

    /// The pair of a kept private key (the public half is part of it).
    pub fn from_private_pem(private_pem: String) -> anyhow::Result<Self> {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&private_pem)?;
        Ok(Self {
            public_pem: private.to_public_key().to_public_key_pem(LineEnding::LF)?,
            private_pem,
        })
    }
}

/// Why a request's signature is not accepted: said to the sender in the
/// 401's body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("the request is not signed: send a Signature header (draft-cavage HTTP Signatures)")]
    Unsigned,
    #[error("the Signature header cannot be read: {0}")]
    Malformed(&'static str),
    #[error("the signature must cover {0}")]
    MissingCover(&'static str),
    #[error("the signed header {0} is not in the request")]
    MissingHeader(String),
    #[error("the Date header is not an HTTP date, or is more than an hour from now")]
    Stale,
    #[error("the Digest header does not match the body (SHA-256 expected)")]
    Digest,
    #[error("the signature does not verify with the key {0}")]
    Invalid(String),
    #[error("the key {0} is not an RSA public key")]
    BadKey(String),
}

/// The parts of a `Signature` header.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub key_id: String,
    pub headers: Vec<String>,
    pub signature: Vec<u8>,
}

impl SignatureHeader {
    pub fn parse(text: &str) -> Result<Self, Refusal> {
        let (mut key_id, mut headers, mut signature) = (None, None, None);
        for part in split_params(text) {
            let (name, value) = part
                .split_once('=')
                .ok_or(Refusal::Malformed("a parameter without a value"))?;
            let value = value
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(Refusal::Malformed("a value not in double quotes"))?;
            match name.trim() {
                "keyId" => key_id = Some(value.to_owned()),
                "headers" => headers = Some(value.to_owned()),
                "signature" => {
                    signature = Some(
                        STANDARD
                            .decode(value)
                            .map_err(|_| Refusal::Malformed("the signature is not base64"))?,
                    )
                }
                "algorithm" if !matches!(value, "rsa-sha256" | "hs2019") => {
                    return Err(Refusal::Malformed(
                        "only rsa-sha256 (or hs2019 with an RSA key) is understood",
                    ));
                }
                _ => {}
            }
        }
        Ok(Self {
            key_id: key_id.ok_or(Refusal::Malformed("no keyId"))?,
            // The draft's default is the Date header alone, which we refuse
            // below as covering too little.
            headers: headers
                .unwrap_or_else(|| "date".to_owned())
                .split_ascii_whitespace()
                .map(str::to_ascii_lowercase)
                .collect(),
            signature: signature.ok_or(Refusal::Malformed("no signature"))?,
        })
    }

    /// Checks that the signature covers what makes a request unique and
    /// that it verifies with `public_pem` (the key `key_id` names), the
    /// date is recent and the digest is the body's.
    pub fn verify(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        public_pem: &str,
        now: OffsetDateTime,
    ) -> Result<(), Refusal> {
        for needed in ["(request-target)", "host", "date"] {
            if !self.headers.iter().any(|h| h == needed) {
                return Err(Refusal::MissingCover(needed));
            }
        }
        if *method == Method::POST {
            if !self.headers.iter().any(|h| h == "digest") {
                return Err(Refusal::MissingCover("digest"));
            }
            let sent = header(headers, "digest")?;
            let ours = digest(body);
            // `SHA-256=…`, possibly among other algorithms' digests.
            if !sent.split(',').any(|d| d.trim() == ours) {
                return Err(Refusal::Digest);
            }
        }
        let date = header(headers, "date")?;
        let date = httpdate::parse_http_date(date).map_err(|_| Refusal::Stale)?;
        let date = OffsetDateTime::from(date);
        if (date - now).abs() > CLOCK_SKEW {
            return Err(Refusal::Stale);
        }
        let text = signing_string(&self.headers, method, path_and_query, |name| {
            header(headers, name).map(str::to_owned)
        })?;
        let key = public_key_der(public_pem).ok_or_else(|| Refusal::BadKey(self.key_id.clone()))?;
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key)
            .verify(text.as_bytes(), &self.signature)
            .map_err(|_| Refusal::Invalid(self.key_id.clone()))
    }
}

/// The comma-separated parameters of a header, commas inside quotes kept.
fn split_params(text: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Refusal> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Refusal::MissingHeader(name.to_owned()))
}

/// The text a signature is made over: one `name: value` line per signed
/// header.
fn signing_string(
    names: &[String],
    method: &Method,
    path_and_query: &str,
    value: impl Fn(&str) -> Result<String, Refusal>,
) -> Result<String, Refusal> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let line = if name == "(request-target)" {
            format!(
                "(request-target): {} {path_and_query}",
                method.as_str().to_ascii_lowercase()
            )
        } else {
            format!("{name}: {}", value(name)?)
        };
        lines.push(line);
    }
    Ok(lines.join("\n"))
}

/// The `Digest` header's value for a body.
pub fn digest(body: &[u8]) -> String {
    format!("SHA-256={}", STANDARD.encode(Sha256::digest(body)))
}

/// The PKCS#1 form ring wants of a published (SPKI PEM) RSA key.
fn public_key_der(pem: &str) -> Option<Vec<u8>> {
    let key = rsa::RsaPublicKey::from_public_key_pem(pem.trim()).ok()?;
    Some(key.to_pkcs1_der().ok()?.into_vec())
}

/// Whether `pem` is an RSA public key we can check signatures with.
pub fn is_usable_public_key(pem: &str) -> bool {
    public_key_der(pem).is_some()
}

/// The headers that sign a request to `url` with the key `key_id`
/// (`private_pem`): `Host`, `Date`, and for a body its `Digest` and
/// `Content-Type`, then `Signature`.
pub fn sign(
    key_id: &str,
    pair: &RsaKeyPair,
    method: &Method,
    url: &url::Url,
    body: Option<(&[u8], &str)>,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut headers = vec![
        ("host", host),
        ("date", httpdate::fmt_http_date(now.into())),
    ];
    if let Some((bytes, content_type)) = body {
        headers.push(("digest", digest(bytes)));
        headers.push(("content-type", content_type.to_owned()));
    }
    let covered = if body.is_some() {
        SIGNED_WITH_BODY
    } else {
        SIGNED_WITHOUT_BODY
    };
    let names: Vec<String> = covered.split(' ').map(str::to_owned).collect();
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let text = signing_string(&names, method, &path, |name| {
        Ok(headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default())
    })
    .map_err(|e| anyhow::anyhow!(e))?;

    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        text.as_bytes(),
        &mut signature,
    )
    .map_err(|_| anyhow::anyhow!("signing failed"))?;
    headers.push((
        "signature",
        format!(
            r#"keyId="{key_id}",algorithm="rsa-sha256",headers="{covered}",signature="{}""#,
            STANDARD.encode(signature)
        ),
    ));
    Ok(headers)
}

/// An actor's private key, read for signing: reading and checking it
/// costs more than a signature, so [`Signers`] keeps it.
fn signer(private_pem: &str) -> anyhow::Result<RsaKeyPair> {
    let der = rsa::RsaPrivateKey::from_pkcs8_pem(private_pem)?.to_pkcs8_der()?;
    RsaKeyPair::from_pkcs8(der.as_bytes())
        .map_err(|e| anyhow::anyhow!("the actor's private key is unusable: {e}"))
}

/// Our actors' private keys, read once per process (a post to many
/// servers is signed once an inbox). By the key's text: a key that is not
/// kept any more is simply not asked for again.
#[derive(Clone, Default)]
pub struct Signers(Arc<Mutex<HashMap<String, Arc<RsaKeyPair>>>>);

impl Signers {
    pub fn get(&self, private_pem: &str) -> anyhow::Result<Arc<RsaKeyPair>> {
        let kept = self
            .0
            .lock()
            .expect("not poisoned")
            .get(private_pem)
            .cloned();
        if let Some(pair) = kept {
            return Ok(pair);
        }
        let pair = Arc::new(signer(private_pem)?);
        self.0
            .lock()
            .expect("not poisoned")
            .insert(private_pem.to_owned(), pair.clone());
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn signed(pair: &KeyPair, body: &[u8], now: OffsetDateTime) -> (HeaderMap, SignatureHeader) {
        let url = url::Url::parse("http://example.test:8080/users/ann/inbox").unwrap();
        let list = sign(
            "http://me.test/actor#main-key",
            &signer(&pair.private_pem).unwrap(),
            &Method::POST,
            &url,
            Some((body, "application/activity+json")),
            now,
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in list {
            headers.insert(name, HeaderValue::from_str(&value).unwrap());
        }
        let parsed = SignatureHeader::parse(headers["signature"].to_str().unwrap()).unwrap();
        (headers, parsed)
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let pair = KeyPair::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let body = br#"{"type":"Follow"}"#;
        let (headers, sig) = signed(&pair, body, now);
        assert_eq!(sig.key_id, "http://me.test/actor#main-key");
        assert_eq!(headers["host"], "example.test:8080");
        let check = |method: &Method, path: &str, headers: &HeaderMap, body: &[u8], at| {
            sig.verify(method, path, headers, body, &pair.public_pem, at)
        };
        assert_eq!(
            check(&Method::POST, "/users/ann/inbox", &headers, body, now),
            Ok(())
        );
        // Another body, another inbox, another time, another key.
        assert_eq!(
            check(&Method::POST, "/users/ann/inbox", &headers, b"{}", now),
            Err(Refusal::Digest)
        );
        assert!(matches!(
            check(&Method::POST, "/inbox", &headers, body, now),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(
            check(
                &Method::POST,
                "/users/ann/inbox",
                &headers,
                body,
                now + time::Duration::hours(2)
            ),
            Err(Refusal::Stale)
        );
        let other = KeyPair::generate().unwrap();
        assert!(matches!(
            sig.verify(
                &Method::POST,
                "/users/ann/inbox",
                &headers,
                body,
                &other.public_pem,
                now
            ),
            Err(Refusal::Invalid(_))
        ));
        let mut changed = headers.clone();
        changed.insert("host", HeaderValue::from_static("elsewhere.test"));
        assert!(matches!(
            check(&Method::POST, "/users/ann/inbox", &changed, body, now),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn headers_that_cover_too_little_or_cannot_be_read_are_refused() {
        let sig = |text: &str| SignatureHeader::parse(text);
        assert_eq!(
            sig(r#"keyId="k",signature="AAAA""#).unwrap().verify(
                &Method::POST,
                "/",
                &HeaderMap::new(),
                b"",
                "",
                OffsetDateTime::now_utc()
            ),
            Err(Refusal::MissingCover("(request-target)"))
        );
        assert_eq!(sig(r#"keyId="k""#), Err(Refusal::Malformed("no signature")));
        assert_eq!(
            sig(r#"keyId="k",algorithm="ed25519",signature="AAAA""#).map(|_| ()),
            Err(Refusal::Malformed(
                "only rsa-sha256 (or hs2019 with an RSA key) is understood"
            ))
        );
        assert_eq!(
            sig("keyId=k").map(|_| ()),
            Err(Refusal::Malformed("a value not in double quotes"))
        );
        // A comma inside a quoted value is part of it.
        let parsed =
            sig(r#"keyId="https://a.test/u#k,1",headers="date",signature="AAAA""#).unwrap();
        assert_eq!(parsed.key_id, "https://a.test/u#k,1");
    }

    #[test]
    fn public_keys_are_read_from_pem_as_actors_publish_them() {
        let pair = KeyPair::generate().unwrap();
        assert!(is_usable_public_key(&pair.public_pem));
        assert!(is_usable_public_key(&format!("\n{}\n", pair.public_pem)));
        assert!(!is_usable_public_key(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
        ));
    }
}
