//! A real ActivityPub server for the federation tests: Fedify, run by
//! fediverse_peer/peer.mjs beside this file on loopback with one actor,
//! alice, and a control API that makes her act (follow, reply, like…) and
//! tells what her inboxes received. See fediverse_peer/README.md.
// Each test uses only part of what the peer offers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The peer, stopped when dropped.
pub struct FediversePeer {
    _process: PeerProcess,
    pub port: u16,
    base_url: String,
    client: reqwest::Client,
}

/// The node process, killed and reaped when dropped (also when starting
/// fails half-way). It also exits by itself when its stdin closes, so it
/// cannot outlive a test process that is killed.
struct PeerProcess(std::process::Child);

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the peer answered when it could not do what it was asked: the
/// HTTP status of its control API (0 when it could not be reached) and its
/// message, e.g. the delivery's failure as Fedify saw it.
#[derive(Debug, Clone)]
pub struct PeerError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fediverse peer: {} ({})", self.message, self.status)
    }
}

impl std::error::Error for PeerError {}

#[derive(Debug, Clone, Deserialize)]
pub struct Followed {
    pub follow_id: String,
    /// The actor's id, as its document says.
    pub actor: String,
    pub inbox: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reply {
    pub note_id: String,
    pub activity_id: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Sent {
    activity_id: String,
}

/// A request alice signed but did not send: the exact headers (lowercase
/// names: content-type, date, digest, host, signature) and body.
#[derive(Debug, Clone, Deserialize)]
pub struct Signed {
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub key_id: String,
}

impl Signed {
    /// The POST of this body with these headers to `inbox`, to send (once,
    /// twice, or after changing it).
    pub fn request(&self, client: &reqwest::Client, inbox: &str) -> reqwest::RequestBuilder {
        let mut request = client.post(inbox).body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }
}

/// An activity alice's inbox (or the shared inbox) took, after Fedify
/// verified it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedActivity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub actor: Option<String>,
    /// The object as sent, compacted JSON-LD: an embedded object or an id.
    pub object: Value,
    pub object_id: Option<String>,
    /// The whole activity as Fedify read it (compacted JSON-LD).
    pub activity: Value,
    /// The JSON as it arrived.
    pub raw: Value,
    /// "alice" or "shared".
    pub inbox: String,
    /// The HTTP signature's parameters (`spec`, `key_id`, `algorithm`,
    /// `headers`…), if the request had one.
    pub signature: Option<Value>,
    /// How Fedify authenticated it: "http-signature", "ld-signature" or
    /// "object-integrity-proof".
    pub verified_by: Option<String>,
    pub received_at: String,
}

/// A POST to one of the peer's inboxes, accepted or not, with what Fedify
/// logged while handling it (why it refused a signature, for one).
#[derive(Debug, Clone, Deserialize)]
pub struct InboxRequest {
    pub at: String,
    pub path: String,
    pub status: u16,
    pub response: String,
    pub activity: Option<Value>,
    pub signature: Option<Value>,
    pub fedify: Vec<String>,
}

/// Who follows alice, and how alice's own follows stand.
#[derive(Debug, Clone, Deserialize)]
pub struct FollowState {
    pub followers: Vec<String>,
    /// Actor id → "pending", "accepted" or "rejected".
    pub following: BTreeMap<String, String>,
    /// Actor id → the id of alice's Follow.
    pub follow_ids: BTreeMap<String, String>,
    /// Follows of alice not yet answered (with PEER_AUTO_ACCEPT=0).
    pub pending_follow_requests: Vec<String>,
}

impl FediversePeer {
    /// Starts one, or says why not: it needs the Node 22 that
    /// ./scripts/test installs with the peer's packages, in
    /// QUIRE_TEST_NODE. Without it the test is skipped, except under CI,
    /// where that is a failure.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// With settings for the peer (its README lists them), such as
    /// `("PEER_FIRST_KNOCK", "draft-cavage-http-signatures-12")` or
    /// `("PEER_AUTO_ACCEPT", "0")`.
    pub fn start_with(env: &[(&str, &str)]) -> Option<Self> {
        let Ok(node) = std::env::var("QUIRE_TEST_NODE") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "QUIRE_TEST_NODE must name the Node 22 of tests/support/fediverse_peer (./scripts/test sets it)"
            );
            eprintln!("skipped: QUIRE_TEST_NODE is not set; ./scripts/test sets it");
            return None;
        };
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support/fediverse_peer/peer.mjs");
        let mut process = PeerProcess(
            std::process::Command::new(&node)
                .arg(&script)
                .env("PEER_PORT", "0")
                .env("PEER_EXIT_WITH_STDIN", "1")
                .envs(env.iter().copied())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("QUIRE_TEST_NODE ({node}) does not run: {e}")),
        );
        let stdout = process.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
            let _ = tx.send(lines.next());
            // Whatever else it prints is read, so that it never blocks.
            for _ in lines {}
        });
        let timeout = Duration::from_secs(30);
        let line = match rx.recv_timeout(timeout) {
            Ok(Some(Ok(line))) => line,
            Ok(Some(Err(e))) => panic!("reading what peer.mjs printed failed: {e}"),
            Ok(None) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = process
                    .0
                    .wait()
                    .map_or_else(|e| e.to_string(), |s| s.to_string());
                panic!(
                    "peer.mjs exited ({status}) before listening: its stderr is above \
                     (QUIRE_TEST_NODE={node} must be a Node 22, and `npm ci` must have run in \
                     tests/support/fediverse_peer)"
                )
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("peer.mjs did not print \"listening on 127.0.0.1:PORT\" within {timeout:?}")
            }
        };
        let port = line
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|port| port.trim().parse::<u16>().ok())
            .unwrap_or_else(|| {
                panic!("peer.mjs printed {line:?}, not \"listening on 127.0.0.1:PORT\"")
            });
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Some(Self {
            _process: process,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            client,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// alice's id: `http://127.0.0.1:PORT/users/alice`.
    pub fn actor_id(&self) -> String {
        format!("{}/users/alice", self.base_url)
    }

    /// `alice@127.0.0.1:PORT`, as WebFinger knows her.
    pub fn handle(&self) -> String {
        format!("alice@127.0.0.1:{}", self.port)
    }

    pub fn inbox(&self) -> String {
        format!("{}/users/alice/inbox", self.base_url)
    }

    pub fn shared_inbox(&self) -> String {
        format!("{}/inbox", self.base_url)
    }

    /// The id of the RSA key alice signs with.
    pub fn key_id(&self) -> String {
        format!("{}/users/alice#main-key", self.base_url)
    }

    /// alice follows `user@host:port`, found by WebFinger over http.
    pub async fn follow_handle(&self, handle: &str) -> Result<Followed, PeerError> {
        self.post("follow", json!({ "handle": handle })).await
    }

    /// alice follows the actor at this URL.
    pub async fn follow_actor(&self, actor: &str) -> Result<Followed, PeerError> {
        self.post("follow", json!({ "actor": actor })).await
    }

    /// Undo{Follow} of a follow of `actor`; returns the Undo's id.
    pub async fn unfollow(&self, actor: &str, follow_id: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post(
                "unfollow",
                json!({ "actor": actor, "follow_id": follow_id }),
            )
            .await?;
        Ok(sent.activity_id)
    }

    /// alice replies to `in_reply_to` (an object's id) with this HTML,
    /// addressed to the public, `to_actor` and her followers, and delivers
    /// the Create to `to_actor`'s inbox.
    pub async fn reply(
        &self,
        in_reply_to: &str,
        content: &str,
        to_actor: &str,
    ) -> Result<Reply, PeerError> {
        self.post(
            "reply",
            json!({ "in_reply_to": in_reply_to, "content": content, "to_actor": to_actor }),
        )
        .await
    }

    /// Update{Note} of a reply of alice's, with new content.
    pub async fn update_reply(
        &self,
        note_id: &str,
        content: &str,
        to_actor: &str,
    ) -> Result<Reply, PeerError> {
        self.post(
            "update-reply",
            json!({ "note_id": note_id, "content": content, "to_actor": to_actor }),
        )
        .await
    }

    /// Delete{Tombstone} of a reply of alice's; it then answers 410.
    pub async fn delete_reply(&self, note_id: &str, to_actor: &str) -> Result<Reply, PeerError> {
        self.post(
            "delete-reply",
            json!({ "note_id": note_id, "to_actor": to_actor }),
        )
        .await
    }

    /// Like of `object`, delivered to `to_actor`; returns the Like's id.
    pub async fn like(&self, object: &str, to_actor: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post("like", json!({ "object": object, "to_actor": to_actor }))
            .await?;
        Ok(sent.activity_id)
    }

    /// Announce of `object`, delivered to `to_actor`; returns its id.
    pub async fn announce(&self, object: &str, to_actor: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post(
                "announce",
                json!({ "object": object, "to_actor": to_actor }),
            )
            .await?;
        Ok(sent.activity_id)
    }

    /// Undo of a Like or Announce alice sent; returns the Undo's id.
    pub async fn undo(&self, activity_id: &str, to_actor: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post(
                "undo",
                json!({ "activity_id": activity_id, "to_actor": to_actor }),
            )
            .await?;
        Ok(sent.activity_id)
    }

    /// bob's id: the peer's second actor, there to be moved to.
    pub fn bob_id(&self) -> String {
        format!("{}/users/bob", self.base_url)
    }

    /// Sets the accounts `actor` ("alice" or "bob") is also known as.
    pub async fn set_aliases(&self, actor: &str, aliases: &[&str]) -> Result<Value, PeerError> {
        self.post("aliases", json!({ "actor": actor, "aliases": aliases }))
            .await
    }

    /// alice moves to `target`: Move delivered to `to_actor`; returns its id.
    pub async fn move_to(&self, target: &str, to_actor: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post("move", json!({ "target": target, "to_actor": to_actor }))
            .await?;
        Ok(sent.activity_id)
    }

    /// alice's avatar becomes `avatar` ("alice.png", "alice-2.png"), told
    /// to `to_actor` by Update{Person}.
    pub async fn change_avatar(&self, avatar: &str, to_actor: &str) -> Result<Value, PeerError> {
        self.post("profile", json!({ "avatar": avatar, "to_actor": to_actor }))
            .await
    }

    /// Accepts a Follow of alice left pending (PEER_AUTO_ACCEPT=0).
    pub async fn accept_follow(&self, follow_id: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post("accept", json!({ "follow_id": follow_id }))
            .await?;
        Ok(sent.activity_id)
    }

    /// Rejects a Follow of alice left pending (PEER_AUTO_ACCEPT=0).
    pub async fn reject_follow(&self, follow_id: &str) -> Result<String, PeerError> {
        let sent: Sent = self
            .post("reject", json!({ "follow_id": follow_id }))
            .await?;
        Ok(sent.activity_id)
    }

    /// The request alice would POST to `inbox` with this activity as its
    /// body, signed (draft-cavage HTTP Signature, with Digest and Date) but
    /// not sent.
    pub async fn sign(&self, inbox: &str, activity: &Value) -> Result<Signed, PeerError> {
        self.post("sign", json!({ "inbox": inbox, "activity": activity }))
            .await
    }

    /// As [`sign`](Self::sign), with another spec ("rfc9421") or as if
    /// signed at another time (`date`, e.g. "Tue, 01 Jan 2030 00:00:00 GMT"
    /// or an RFC 3339 time).
    pub async fn sign_with(
        &self,
        inbox: &str,
        activity: &Value,
        spec: &str,
        date: Option<&str>,
    ) -> Result<Signed, PeerError> {
        self.post(
            "sign",
            json!({ "inbox": inbox, "activity": activity, "spec": spec, "date": date }),
        )
        .await
    }

    /// Everything alice's inboxes took, oldest first.
    pub async fn received(&self) -> Vec<ReceivedActivity> {
        self.control(reqwest::Method::GET, "received", None)
            .await
            .unwrap()
    }

    /// Forgets what was received (and the inbox log).
    pub async fn clear_received(&self) {
        let _: Value = self
            .control(reqwest::Method::DELETE, "received", None)
            .await
            .unwrap();
    }

    /// Waits (at most 30 s) until what was received satisfies `done`.
    pub async fn wait_until(
        &self,
        done: impl Fn(&[ReceivedActivity]) -> bool,
    ) -> Vec<ReceivedActivity> {
        for _ in 0..300 {
            let received = self.received().await;
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let received = self.received().await;
        panic!(
            "the fediverse peer did not receive what was expected; it received {:?}\n\
             its inbox log: {:#?}",
            received
                .iter()
                .map(|r| (&r.kind, &r.id, &r.actor))
                .collect::<Vec<_>>(),
            self.inbox_log().await
        );
    }

    /// Waits (at most 30 s) for an activity of this type (e.g. "Create")
    /// and returns the first.
    pub async fn wait_for(&self, kind: &str) -> ReceivedActivity {
        self.wait_until(|r| r.iter().any(|a| a.kind == kind))
            .await
            .into_iter()
            .find(|a| a.kind == kind)
            .unwrap()
    }

    /// Every POST to the peer's inboxes, with the status Fedify answered
    /// and what it logged (why a signature was refused).
    pub async fn inbox_log(&self) -> Vec<InboxRequest> {
        self.control(reqwest::Method::GET, "inbox-log", None)
            .await
            .unwrap()
    }

    /// alice's followers and the state of her own follows.
    pub async fn following_state(&self) -> FollowState {
        self.control(reqwest::Method::GET, "followers", None)
            .await
            .unwrap()
    }

    /// Waits (at most 30 s) until alice's follow of `actor` is in `state`
    /// ("accepted", "rejected", "pending").
    pub async fn wait_following(&self, actor: &str, state: &str) -> FollowState {
        for _ in 0..300 {
            let follows = self.following_state().await;
            if follows.following.get(actor).map(String::as_str) == Some(state) {
                return follows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "alice's follow of {actor} is not {state}: {:?}",
            self.following_state().await
        );
    }

    /// Failures of what the peer sends by itself (its Accept of a Follow).
    pub async fn errors(&self) -> Vec<Value> {
        self.control(reqwest::Method::GET, "errors", None)
            .await
            .unwrap()
    }

    async fn post<T: DeserializeOwned>(
        &self,
        operation: &str,
        body: Value,
    ) -> Result<T, PeerError> {
        self.control(reqwest::Method::POST, operation, Some(body))
            .await
    }

    async fn control<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        operation: &str,
        body: Option<Value>,
    ) -> Result<T, PeerError> {
        let url = format!("{}/control/{operation}", self.base_url);
        let mut request = self.client.request(method, &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let unreachable = |e: reqwest::Error| PeerError {
            status: 0,
            message: format!("{url}: {e}"),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            return Err(PeerError { status, message });
        }
        serde_json::from_str(&text).map_err(|e| PeerError {
            status,
            message: format!("{url} answered what is not the JSON expected ({e}): {text}"),
        })
    }
}
