//! Domain events: recorded with the change, delivered by the job queue at
//! their time, and not at all when they no longer stand.

use std::time::Duration;

use quire::db::{Db, Timestamp, query};
use quire::features::{accounts, posts};

use crate::backend_test;

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    kind: String,
    occurs_at: Timestamp,
    delivered_at: Option<Timestamp>,
}

async fn events_of(db: &Db, kind: &str) -> Vec<EventRow> {
    query("SELECT kind, occurs_at, delivered_at FROM events WHERE kind = $1 ORDER BY id")
        .bind(kind.to_owned())
        .fetch_all(db)
        .await
        .unwrap()
}

async fn scheduled(app: &quire::app::App, at: Timestamp) -> posts::PostInput {
    posts::PostInput::parse(
        app,
        &posts::PostFields {
            title: "Later".into(),
            body: "Not yet.".into(),
            publication: posts::Publication::PublishAt(at),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

backend_test!(
    a_scheduled_post_goes_live_for_subscribers_at_its_time,
    |app| {
        app.register("owner").await;
        let owner = accounts::find_active_by_username(&app.db, "owner")
            .await
            .unwrap()
            .unwrap();
        let first_time = Timestamp::now() + Duration::from_millis(1500);
        let post = posts::create(&app.app, &owner, &scheduled(&app.app, first_time).await)
            .await
            .unwrap();
        // Moved later before its time: the first event no longer stands.
        let second_time = Timestamp::now() + Duration::from_millis(2500);
        posts::update(
            &app.app,
            &owner,
            &post,
            &scheduled(&app.app, second_time).await,
        )
        .await
        .unwrap();
        let published = events_of(&app.db, "post_published").await;
        assert_eq!(
            published.iter().map(|e| e.occurs_at).collect::<Vec<_>>(),
            [first_time, second_time],
            "recorded with the change, for the post's times"
        );

        let _worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        let published = events_of(&app.db, "post_published").await;
        assert!(
            published.iter().all(|e| e.delivered_at.is_none()),
            "nothing is delivered before the post is visible: {published:?}"
        );
        // The account's and the edit's events are delivered at once.
        for kind in ["account_created", "post_updated"] {
            let events = events_of(&app.db, kind).await;
            assert!(
                events.iter().all(|e| e.delivered_at.is_some()),
                "{kind}: {events:?}"
            );
        }

        tokio::time::sleep(Duration::from_millis(2700)).await;
        app.jobs_settled().await;
        let published = events_of(&app.db, "post_published").await;
        assert_eq!(published[0].delivered_at, None, "moved: never delivered");
        let delivered = published[1].delivered_at.expect("delivered at its time");
        assert!(
            delivered >= second_time,
            "{delivered:?} before {second_time:?}"
        );
        assert_eq!(published[1].kind, "post_published");
    }
);
