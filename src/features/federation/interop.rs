//! The actor and note documents Mastodon, Pleroma, Misskey and WriteFreely
//! send (tests/fixtures/federation, with where each came from), read by
//! the code that reads every remote actor and reply.

use serde_json::Value;
use url::Url;

use super::actors::parse_actor;
use super::moderation::Reply;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/federation/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text.replace("{{IN_REPLY_TO}}", "https://blog.test/ap/posts/1")).unwrap()
}

fn actor(server: &str) -> super::actors::Remote {
    let document = fixture(&format!("{server}-actor"));
    let id = Url::parse(document["id"].as_str().unwrap()).unwrap();
    parse_actor(&id, &document).unwrap_or_else(|e| panic!("{server}: {e}"))
}

#[test]
fn every_servers_actor_is_read() {
    let mastodon = actor("mastodon");
    assert_eq!(mastodon.address(), "@emelie@mastodon.social");
    assert_eq!(mastodon.name, "emelie 🎨");
    assert_eq!(mastodon.profile(), "https://mastodon.social/@emelie");
    assert_eq!(mastodon.delivery_inbox(), "https://mastodon.social/inbox");
    assert_eq!(
        mastodon.key_id,
        "https://mastodon.social/users/emelie#main-key"
    );
    assert!(mastodon.icon_url.is_some());

    let pleroma = actor("pleroma");
    assert_eq!(pleroma.address(), "@helene@p.helene.moe");
    assert_eq!(pleroma.name, "Hélène");

    let misskey = actor("misskey");
    assert_eq!(misskey.address(), "@kana@misskey.example");
    assert_eq!(misskey.profile(), "https://misskey.example/@kana");

    // No shared inbox: deliveries go to the actor's own.
    let writefreely = actor("writefreely");
    assert_eq!(writefreely.address(), "@fieldnotes@writefreely.example");
    assert_eq!(writefreely.delivery_inbox(), writefreely.inbox);
}

#[test]
fn an_actor_served_from_elsewhere_or_without_a_key_is_refused() {
    let document = fixture("mastodon-actor");
    let elsewhere = Url::parse("https://evil.example/users/emelie").unwrap();
    assert!(parse_actor(&elsewhere, &document).is_err());
    let mut keyless = document.clone();
    keyless.as_object_mut().unwrap().remove("publicKey");
    let id = Url::parse(document["id"].as_str().unwrap()).unwrap();
    assert!(parse_actor(&id, &keyless).is_err());
    let mut foreign_inbox = document.clone();
    foreign_inbox["inbox"] = "https://evil.example/inbox".into();
    assert!(parse_actor(&id, &foreign_inbox).is_err());
}

#[test]
fn every_servers_reply_is_read_as_markdown() {
    for (server, note, expect) in [
        ("mastodon", "mastodon-note", "[@helene]"),
        ("pleroma", "pleroma-note", "@"),
        ("misskey", "misskey-note", "**"),
        (
            "writefreely",
            "writefreely-article",
            "The cloves went into the raised bed",
        ),
    ] {
        let actor = actor(server);
        let reply = Reply::read(&fixture(note), &actor).unwrap_or_else(|e| panic!("{note}: {e}"));
        assert!(reply.body.contains(expect), "{note}: {}", reply.body);
        assert!(
            !reply.body.contains("<span"),
            "{note}: markup left: {}",
            reply.body
        );
        assert!(reply.published_at < crate::db::Timestamp::now());
    }
}

#[test]
fn a_reply_with_a_script_is_text() {
    let actor = actor("mastodon");
    let mut note = fixture("mastodon-note");
    note["content"] = "<p>Hi<script>alert(1)</script> <img src=x onerror=alert(2)></p>".into();
    let reply = Reply::read(&note, &actor).unwrap();
    assert!(!reply.body.contains("<script"), "{}", reply.body);
    assert!(!reply.body.contains("onerror"), "{}", reply.body);
}
