//! Federation against a real ActivityPub server on loopback (Fedify, in
//! tests/support/fediverse_peer): it finds an author and the blog by
//! WebFinger, follows them, receives their posts, edits and deletions
//! signed (Fedify checks the HTTP signatures of what we send), replies,
//! likes and boosts; the replies wait for the author's approval and then
//! appear in their threads. What is unsigned, badly signed, replayed, too
//! large or points at a private address is refused with nothing kept. A
//! worker killed in the middle of a delivery loses none.

use serde_json::{Value, json};

use crate::fediverse_peer::FediversePeer;
use crate::helpers::{Backend, Browser, TestApp};

const ACTIVITY_JSON: &str = "application/activity+json";

/// The site (its public URL its own address) and the peer; none when the
/// peer cannot run here (outside CI).
async fn federated(backend: Backend) -> Option<(TestApp, FediversePeer)> {
    let peer = FediversePeer::start()?;
    let app = TestApp::try_spawn_federated(backend).await?;
    Some((app, peer))
}

/// `host:port` of the site, as in `@name@host:port`.
fn host(app: &TestApp) -> String {
    app.base.authority().to_owned()
}

/// A document of the site, asked for as ActivityPub JSON.
async fn activity_json(app: &TestApp, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(app.base.join(path).unwrap())
        .header("accept", ACTIVITY_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ACTIVITY_JSON)
    );
    response.json().await.unwrap()
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    quire::db::Query::assembled(format!("SELECT COUNT(*) FROM {table}"))
        .scalar(&app.db)
        .await
        .unwrap()
}

macro_rules! federation_test {
    ($name:ident, |$app:ident, $peer:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn run($app: TestApp, $peer: FediversePeer) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some((app, peer)) = federated(Backend::Sqlite).await {
                    run(app, peer).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, peer)) = federated(Backend::Postgres).await else {
                    eprintln!("skipped: QUIRE_TEST_POSTGRES_URL or the peer is not there");
                    return;
                };
                run(app, peer).await;
            }
        }
    };
}

federation_test!(
    a_peer_follows_an_author_and_the_blog_and_gets_their_posts,
    |app, peer| {
        app.register("owner").await;
        let _worker = app.start_worker(|_| {});
        let here = host(&app);

        // Discovery: WebFinger (the peer does it over http on loopback),
        // NodeInfo, the actors' documents with their keys.
        let author = peer.follow_handle(&format!("owner@{here}")).await.unwrap();
        assert_eq!(author.actor, app.public("/ap/users/1"));
        let blog = peer.follow_handle(&format!("blog@{here}")).await.unwrap();
        assert_eq!(blog.actor, app.public("/ap/blog"));
        peer.wait_following(&author.actor, "accepted").await;
        peer.wait_following(&blog.actor, "accepted").await;
        let nodeinfo: Value = reqwest::get(app.base.join("/nodeinfo/2.1").unwrap())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(nodeinfo["software"]["name"], "quire");
        assert_eq!(nodeinfo["usage"]["users"]["total"], 1);
        let actor = activity_json(&app, "/users/owner").await;
        assert_eq!(
            actor["id"], author.actor,
            "the profile's address negotiates"
        );
        assert!(
            actor["publicKey"]["publicKeyPem"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        let followers = activity_json(&app, "/ap/users/1/followers").await;
        assert_eq!(followers["totalItems"], 1);

        // A post goes live: the author's Create reaches the author's follower,
        // the blog's Announce the blog's; both signed, and Fedify checked the
        // HTTP signatures (the only proof it had: we send no LD signature).
        peer.clear_received().await;
        let slug = app
            .publish(
                "Across the fediverse",
                "Hello, *fediverse*.",
                "rust, federation",
            )
            .await;
        let create = peer.wait_for("Create").await;
        assert_eq!(create.verified_by.as_deref(), Some("http-signature"));
        assert_eq!(create.actor.as_deref(), Some(author.actor.as_str()));
        let article = &create.raw["object"];
        assert_eq!(article["type"], "Article");
        assert_eq!(article["name"], "Across the fediverse");
        assert!(
            article["content"]
                .as_str()
                .unwrap()
                .contains("<em>fediverse</em>")
        );
        assert_eq!(article["url"], app.public(&format!("/posts/{slug}")));
        let tags: Vec<&str> = article["tag"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["#rust", "#federation"]);
        let announce = peer.wait_for("Announce").await;
        assert_eq!(announce.actor.as_deref(), Some(blog.actor.as_str()));
        assert_eq!(announce.object_id.as_deref(), article["id"].as_str());
        assert_eq!(announce.verified_by.as_deref(), Some("http-signature"));

        // The post's address and its id answer with the Article; the outbox
        // lists it.
        let negotiated = activity_json(&app, &format!("/posts/{slug}")).await;
        assert_eq!(negotiated["id"], article["id"]);
        let outbox = activity_json(&app, "/ap/users/1/outbox?page=1").await;
        assert_eq!(outbox["orderedItems"][0]["object"]["id"], article["id"]);

        // A draft never leaves; an edit is an Update; a deletion a Delete.
        app.save_draft("Not yet", "Secret.").await;
        app.post(
            &format!("/posts/{slug}/edit"),
            &[
                ("title", "Across the fediverse, edited"),
                ("body", "Hello again."),
                ("tags", "rust"),
                ("action", "publish"),
            ],
        )
        .await;
        let update = peer.wait_for("Update").await;
        assert_eq!(update.raw["object"]["name"], "Across the fediverse, edited");
        app.post(&format!("/posts/{slug}/delete"), &[]).await;
        let delete = peer.wait_for("Delete").await;
        assert_eq!(delete.object_id.as_deref(), article["id"].as_str());
        app.jobs_settled().await;
        let received = peer.received().await;
        assert!(
            !received
                .iter()
                .any(|a| a.raw.to_string().contains("Not yet")),
            "the draft was sent: {received:?}"
        );

        // Unfollowing is heard.
        peer.unfollow(&author.actor, &author.follow_id)
            .await
            .unwrap();
        assert_eq!(
            activity_json(&app, "/ap/users/1/followers").await["totalItems"],
            0
        );
    }
);

federation_test!(
    an_author_who_approves_followers_decides_on_each,
    |app, peer| {
        app.register("owner").await;
        let _worker = app.start_worker(|_| {});
        app.post("/moderation/approval", &[("approve", "on")])
            .await
            .assert_status(200);
        assert_eq!(
            activity_json(&app, "/ap/users/1").await["manuallyApprovesFollowers"],
            true
        );

        // The follow waits: no Accept, not counted, listed to be decided.
        let author = peer
            .follow_handle(&format!("owner@{}", host(&app)))
            .await
            .unwrap();
        app.jobs_settled().await;
        assert_eq!(
            peer.following_state().await.following[&author.actor],
            "pending"
        );
        assert_eq!(
            activity_json(&app, "/ap/users/1/followers").await["totalItems"],
            0
        );
        let page = app.get("/moderation").await;
        assert!(page.texts(".followers li")[0].contains("asks to follow you"));
        let accept = page.attrs(".followers form[action$='/accept']", "action");
        app.post(&accept[0], &[]).await.assert_status(200);
        peer.wait_following(&author.actor, "accepted").await;
        assert_eq!(
            activity_json(&app, "/ap/users/1/followers").await["totalItems"],
            1
        );

        // Back to accepting everyone: the next follow is accepted at once.
        app.post("/moderation/approval", &[])
            .await
            .assert_status(200);
        assert_eq!(
            activity_json(&app, "/ap/users/1").await["manuallyApprovesFollowers"],
            false
        );
    }
);

federation_test!(
    replies_wait_for_approval_then_thread_and_likes_are_counted,
    |app, peer| {
        app.register("owner").await;
        let _worker = app.start_worker(|_| {});
        let slug = app.publish("Talk to me", "What do you think?", "").await;
        let article = activity_json(&app, &format!("/posts/{slug}")).await;
        let article_id = article["id"].as_str().unwrap();
        let author = article["attributedTo"].as_str().unwrap();

        // A reply waits: not on the post, in the author's queue.
        let first = peer
            .reply(article_id, "<p>I think <strong>yes</strong>.</p>", author)
            .await
            .unwrap();
        let reader = Browser::new(app.base.clone());
        assert!(
            !reader
                .get(&format!("/posts/{slug}"))
                .await
                .contains("I think")
        );
        // The author is told by email, with the way to the queue.
        let email = app
            .outbox
            .to("owner@example.com")
            .await
            .into_iter()
            .find(|email| email.subject.contains("from the fediverse"))
            .expect("an email about the waiting reply");
        assert!(email.subject.starts_with("Alice"), "{}", email.subject);
        assert!(email.text.contains("I think **yes**."), "{}", email.text);
        assert!(
            email.text.contains(&app.public("/moderation")),
            "{}",
            email.text
        );
        let queue = app.get("/moderation").await;
        queue.assert_status(200);
        assert!(queue.contains("I think **yes**."), "{}", queue.body);
        let approve = queue.attrs("form[action$='/approve']", "action");
        assert_eq!(approve.len(), 1);
        app.post(&approve[0], &[]).await.assert_status(200);

        // Approved, it is a comment with its writer linked to their profile.
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert!(
            post.contains("I think <strong>yes</strong>."),
            "{}",
            post.body
        );
        let profile = post.attrs(".comment a[rel~='ugc']", "href");
        assert!(
            profile.iter().all(|href| href.starts_with(peer.base_url())),
            "{profile:?}"
        );
        assert!(!profile.is_empty(), "{}", post.body);

        // A reply to the reply threads under it once approved; this time the
        // author trusts alice, and her next reply appears at once.
        let second = peer
            .reply(&first.note_id, "<p>And a second thought.</p>", author)
            .await
            .unwrap();
        let queue = app.get("/moderation").await;
        let trust = queue.attrs("form[action$='/trust']", "action");
        app.post(&trust[0], &[]).await.assert_status(200);
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert_eq!(
            post.texts(
                ".comment-list.replies .comment .comment-body, .comment-list.replies .prose"
            )
            .iter()
            .filter(|t| t.contains("second thought"))
            .count(),
            1,
            "the reply to the reply is nested: {}",
            post.body
        );
        peer.reply(article_id, "<p>Trusted now.</p>", author)
            .await
            .unwrap();
        assert!(
            reader
                .get(&format!("/posts/{slug}"))
                .await
                .contains("Trusted now.")
        );

        // The author's answer goes back out as a Note in the same thread,
        // signed, to those who replied.
        peer.clear_received().await;
        app.post(
            &format!("/posts/{slug}/comments"),
            &[("body", "Thank you, *both*.")],
        )
        .await;
        let note = peer.wait_for("Create").await;
        assert_eq!(note.verified_by.as_deref(), Some("http-signature"));
        let object = &note.raw["object"];
        assert_eq!(object["type"], "Note");
        assert_eq!(object["inReplyTo"], article_id);
        assert!(
            object["content"]
                .as_str()
                .unwrap()
                .contains("<em>both</em>")
        );
        let id = object["id"].as_str().unwrap();
        let path = id.strip_prefix(app.base.as_str()).unwrap();
        assert_eq!(activity_json(&app, path).await["id"], id);

        // Her edit and her deletion follow.
        peer.update_reply(&second.note_id, "<p>A revised thought.</p>", author)
            .await
            .unwrap();
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert!(post.contains("A revised thought.") && !post.contains("second thought"));
        peer.delete_reply(&first.note_id, author).await.unwrap();
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert!(!post.contains("I think"));
        assert!(
            post.contains("A revised thought."),
            "a reply outlives its parent"
        );

        // Likes and boosts are counted; undone, uncounted.
        let like = peer.like(article_id, author).await.unwrap();
        peer.announce(article_id, author).await.unwrap();
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert_eq!(
            post.texts(".fediverse-count"),
            ["On the fediverse: 1 like, 1 boost"]
        );
        peer.undo(&like, author).await.unwrap();
        let post = reader.get(&format!("/posts/{slug}")).await;
        assert_eq!(
            post.texts(".fediverse-count"),
            ["On the fediverse: 0 likes, 1 boost"]
        );
    }
);

federation_test!(writers_avatars_are_copied_and_accounts_move, |app, peer| {
    app.register("owner").await;
    let _worker = app.start_worker(|_| {});
    let slug = app.publish("Faces", "Who is there?", "").await;
    let article = activity_json(&app, &format!("/posts/{slug}")).await;
    let article_id = article["id"].as_str().unwrap();
    let author = article["attributedTo"].as_str().unwrap().to_owned();
    let reader = Browser::new(app.base.clone());

    // alice's approved reply shows her avatar, a copy on this site.
    peer.reply(article_id, "<p>Me!</p>", &author).await.unwrap();
    let queue = app.get("/moderation").await;
    app.post(&queue.attrs("form[action$='/trust']", "action")[0], &[])
        .await
        .assert_status(200);
    app.jobs_settled().await;
    let avatar = |page: &crate::helpers::Page| page.attrs(".comment img.avatar", "src");
    let first = avatar(&reader.get(&format!("/posts/{slug}")).await);
    assert_eq!(first.len(), 1, "one avatar");
    assert!(first[0].starts_with("/media/"), "{first:?}");
    let image = reqwest::get(app.base.join(&first[0]).unwrap())
        .await
        .unwrap();
    assert_eq!(image.status(), 200);
    assert!(
        image.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/")
    );
    // The API gives clients the picture's whole address.
    let (_, comments) = app
        .api(
            reqwest::Method::GET,
            &format!("/api/articles/{slug}/comments"),
            None,
            None,
        )
        .await;
    assert_eq!(
        comments["comments"][0]["author"]["image"],
        app.base.join(&first[0]).unwrap().as_str()
    );

    // A new avatar (Update of her actor) replaces it on her comment.
    peer.change_avatar("alice-2.png", &author).await.unwrap();
    app.jobs_settled().await;
    let second = avatar(&reader.get(&format!("/posts/{slug}")).await);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "the new picture is shown");

    // Moving here: the author names alice as another account of theirs.
    let peer_host = peer.handle().split_once('@').unwrap().1.to_owned();
    let page = app
        .post(
            "/moderation/aliases",
            &[("actor", "me"), ("aliases", &format!("@alice@{peer_host}"))],
        )
        .await;
    page.assert_status(200);
    let document = activity_json(&app, author.strip_prefix(app.base.as_str()).unwrap()).await;
    assert_eq!(document["alsoKnownAs"], json!([peer.actor_id()]));
    let page = app
        .post(
            "/moderation/aliases",
            &[("actor", "me"), ("aliases", "not a handle")],
        )
        .await;
    page.assert_status(422);
    assert!(page.contains("neither @name@server"), "{}", page.body);

    // Moving away: refused until the new account names this one.
    let followed = peer
        .follow_handle(&format!("owner@{}", host(&app)))
        .await
        .unwrap();
    peer.wait_following(&followed.actor, "accepted").await;
    peer.clear_received().await;
    let bob = format!("@bob@{peer_host}");
    let page = app
        .post("/moderation/move", &[("actor", "me"), ("target", &bob)])
        .await;
    page.assert_status(422);
    assert!(page.contains("does not name this account"), "{}", page.body);
    peer.set_aliases("bob", &[&author]).await.unwrap();
    app.post("/moderation/move", &[("actor", "me"), ("target", &bob)])
        .await
        .assert_status(200);
    let moved = peer.wait_for("Move").await;
    assert_eq!(moved.verified_by.as_deref(), Some("http-signature"));
    assert_eq!(moved.raw["object"], author.as_str());
    assert_eq!(moved.raw["target"], peer.bob_id());
    let document = activity_json(&app, author.strip_prefix(app.base.as_str()).unwrap()).await;
    assert_eq!(document["movedTo"], peer.bob_id());

    // Someone else moving: refused while the new account does not name
    // them; taken when it does, and the author's trust goes along.
    assert!(peer.move_to(&peer.bob_id(), &author).await.is_err());
    peer.set_aliases("bob", &[&peer.actor_id()]).await.unwrap();
    peer.move_to(&peer.bob_id(), &author).await.unwrap();
    let moved_to: Option<String> =
        quire::db::query("SELECT moved_to FROM remote_actors WHERE uri = $1")
            .bind(peer.actor_id())
            .scalar(&app.db)
            .await
            .unwrap();
    assert_eq!(moved_to, Some(peer.bob_id()));
    let standing: String = quire::db::query(
        "SELECT s.standing FROM actor_standing s
             JOIN remote_actors a ON a.id = s.remote_actor_id WHERE a.uri = $1",
    )
    .bind(peer.bob_id())
    .scalar(&app.db)
    .await
    .unwrap();
    assert_eq!(standing, "trusted");
});

federation_test!(
    unsigned_forged_replayed_and_oversized_activities_are_refused,
    |app, peer| {
        app.register("owner").await;
        let slug = app.publish("Guarded", "Keep out.", "").await;
        let article = activity_json(&app, &format!("/posts/{slug}")).await;
        let inbox = app.public("/ap/inbox");
        let note_id = format!("{}/notes/forged-1", peer.base_url());
        let create = json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{note_id}/activity"),
            "type": "Create",
            "actor": peer.actor_id(),
            "object": {
                "id": note_id,
                "type": "Note",
                "attributedTo": peer.actor_id(),
                "inReplyTo": article["id"],
                "content": "<p>Signed by alice.</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        });
        let client = reqwest::Client::new();
        let kept = || async { count(&app, "remote_replies").await };

        // Unsigned.
        let response = client
            .post(&inbox)
            .header("content-type", ACTIVITY_JSON)
            .body(create.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.text().await.unwrap().contains("not signed"));
        assert_eq!(kept().await, 0);

        // Signed, then the body changed: the digest no longer matches.
        let signed = peer.sign(&inbox, &create).await.unwrap();
        let mut tampered = signed.clone();
        tampered.body = tampered
            .body
            .replace("Signed by alice", "Changed on the way");
        let response = tampered.request(&client, &inbox).send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.text().await.unwrap().contains("Digest"));
        assert_eq!(kept().await, 0);

        // Signed two hours ago: too old.
        let old = httpdate::fmt_http_date(
            std::time::SystemTime::now() - std::time::Duration::from_secs(7200),
        );
        let stale = peer
            .sign_with(
                &inbox,
                &create,
                "draft-cavage-http-signatures-12",
                Some(&old),
            )
            .await
            .unwrap();
        assert_eq!(
            stale
                .request(&client, &inbox)
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(kept().await, 0);

        // By alice, but claiming to be someone else.
        let mut other = create.clone();
        other["actor"] = json!(format!("{}/users/bob", peer.base_url()));
        let forged = peer.sign(&inbox, &other).await.unwrap();
        assert_eq!(
            forged
                .request(&client, &inbox)
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
        assert_eq!(kept().await, 0);

        // Signed and whole: taken once; the same request again changes nothing.
        let response = signed.request(&client, &inbox).send().await.unwrap();
        assert_eq!(response.status(), 202);
        assert_eq!(kept().await, 1);
        let replay = signed.request(&client, &inbox).send().await.unwrap();
        assert_eq!(replay.status(), 202);
        assert!(replay.text().await.unwrap().contains("already received"));
        assert_eq!(kept().await, 1);

        // A key said to be at a private address is never fetched.
        let actors = count(&app, "remote_actors").await;
        let mut headers = signed.headers.clone();
        headers.insert(
            "signature".into(),
            headers["signature"].replace(&peer.key_id(), "http://10.1.2.3/users/eve#main-key"),
        );
        let mut request = client.post(&inbox).body(signed.body.clone());
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.text().await.unwrap().contains("10.1.2.3"));
        assert_eq!(count(&app, "remote_actors").await, actors);

        // From a server an administrator blocked: refused.
        quire::db::query("INSERT INTO blocked_domains (domain, created_at) VALUES ($1, $2)")
            .bind("127.0.0.1")
            .bind(quire::db::Timestamp::now())
            .execute(&app.db)
            .await
            .unwrap();
        let mut again = create.clone();
        again["id"] = json!(format!("{note_id}/activity-2"));
        let blocked = peer.sign(&inbox, &again).await.unwrap();
        let response = blocked.request(&client, &inbox).send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(kept().await, 1);

        // Too large to read.
        let response = client
            .post(&inbox)
            .header("content-type", ACTIVITY_JSON)
            .body(vec![b' '; 300 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
        assert_eq!(kept().await, 1);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_off_answers_none_of_it() {
    for backend in crate::helpers::backends() {
        let Some(off) = TestApp::try_spawn_with(backend, |s| s.federation.enabled = false).await
        else {
            continue;
        };
        off.register("owner").await;
        for path in [
            "/.well-known/webfinger?resource=acct:owner@x",
            "/ap/users/1",
            "/nodeinfo/2.1",
        ] {
            off.new_browser().get(path).await.assert_status(404);
        }
        let response = reqwest::Client::new()
            .post(off.base.join("/ap/inbox").unwrap())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
        // Asked for as ActivityPub JSON, a post's address is its page.
        let slug = off.publish("Only a page", "Text.", "").await;
        let response = reqwest::Client::new()
            .get(off.base.join(&format!("/posts/{slug}")).unwrap())
            .header("accept", ACTIVITY_JSON)
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

/// An inbox that holds its first request for half a minute (the worker
/// delivering to it is killed meanwhile) and takes every other at once,
/// counting the signed activities it took.
async fn stalling_inbox() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let taken: Arc<Mutex<Vec<Value>>> = Arc::default();
    let arrived = Arc::new(AtomicUsize::new(0));
    let (taken2, arrived2) = (taken.clone(), arrived.clone());
    let app = axum::Router::new().route(
        "/inbox",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (taken, arrived) = (taken2.clone(), arrived2.clone());
                async move {
                    if arrived.fetch_add(1, Ordering::SeqCst) == 0 {
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    }
                    assert!(headers.contains_key("signature"));
                    taken
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::ACCEPTED
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inbox = format!("http://{}/inbox", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (inbox, taken, arrived)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_loses_no_delivery() {
    use std::sync::atomic::Ordering;
    for backend in crate::helpers::backends() {
        let Some(app) = TestApp::try_spawn_federated(backend).await else {
            continue;
        };
        app.register("owner").await;
        // A follower whose server answers slowly, written straight in.
        let (inbox, taken, arrived) = stalling_inbox().await;
        let actor: i64 = quire::db::query(
            "INSERT INTO remote_actors (uri, domain, handle, name, inbox, key_id, public_key_pem,
                                        fetched_at)
             VALUES ($1, '127.0.0.1', 'slow', 'Slow', $2, $3, '', $4) RETURNING id",
        )
        .bind(inbox.replace("/inbox", "/users/slow"))
        .bind(&inbox)
        .bind(inbox.replace("/inbox", "/users/slow#main-key"))
        .bind(quire::db::Timestamp::now())
        .scalar(&app.db)
        .await
        .unwrap();
        quire::db::query(
            "INSERT INTO followers (user_id, remote_actor_id, follow_uri, state, created_at)
             VALUES (1, $1, 'x', 'accepted', $2)",
        )
        .bind(actor)
        .bind(quire::db::Timestamp::now())
        .execute(&app.db)
        .await
        .unwrap();
        app.publish("Slowly out", "Words.", "").await;

        let dir = tempfile::tempdir().unwrap();
        let public = app.base.to_string();
        let env = [
            ("QUIRE_JOB_LEASE", "2s"),
            ("QUIRE_PUBLIC_URL", public.as_str()),
            ("QUIRE_FEDERATION_ALLOW_LOOPBACK", "true"),
        ];
        let start = || {
            crate::helpers::QuireProcess::start(&["worker"], &app.database_url, dir.path(), &env)
        };
        let first = start();
        // The delivery is on its way when the worker dies.
        for _ in 0..600 {
            if arrived.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(arrived.load(Ordering::SeqCst), 1, "{backend:?}");
        first.signal("KILL");
        drop(first);
        let _second = start();
        for _ in 0..600 {
            if !taken.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let taken = taken.lock().unwrap().clone();
        assert!(!taken.is_empty(), "{backend:?}: the delivery was lost");
        assert_eq!(taken[0]["type"], "Create");
        assert_eq!(taken[0]["object"]["name"], "Slowly out");
        // Its end is written a moment after the request.
        let mut attempts = None;
        for _ in 0..200 {
            attempts = quire::db::query(
                "SELECT attempts FROM jobs WHERE kind = 'federation_deliver' AND state = 'done'",
            )
            .scalar_optional::<i32>(&app.db)
            .await
            .unwrap();
            if attempts.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let attempts = attempts.expect("the delivery job ends");
        assert_eq!(attempts, 2, "{backend:?}: taken again after the kill");
    }
}
