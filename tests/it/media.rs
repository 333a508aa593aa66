//! Uploaded images: checked from their bytes, stripped of metadata, stored
//! once under their hash, made smaller by the worker and served with
//! caching, on both databases, in a folder and in S3.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};
use quire::db::query;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::backend_test;
use crate::helpers::{Browser, QuireProcess, TestApp, fresh_database_url};

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// A photo-like gradient, so that resizing and WebP have work to do.
fn picture(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }))
}

/// EXIF as a phone writes it: turned (orientation 6, 90° clockwise) and
/// with a GPS latitude. Little-endian TIFF: IFD0 at 8, the GPS IFD at 38,
/// its rationals at 68.
fn phone_exif() -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        let mut e = Vec::new();
        e.extend(tag.to_le_bytes());
        e.extend(kind.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value);
        e
    };
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, [6, 0, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, 5, 3, 68u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    for (n, d) in [(48u32, 1u32), (51, 1), (0, 1)] {
        tiff.extend(n.to_le_bytes());
        tiff.extend(d.to_le_bytes());
    }
    tiff
}

/// A JPEG 40 wide and 20 high as stored, shown 20 × 40 once turned, with
/// the phone's EXIF and a comment.
fn phone_jpeg() -> Vec<u8> {
    use img_parts::ImageEXIF;
    let plain = encoded(&picture(40, 20), ImageFormat::Jpeg);
    let mut jpeg = img_parts::jpeg::Jpeg::from_bytes(plain.into()).unwrap();
    jpeg.set_exif(Some(phone_exif().into()));
    jpeg.encoder().bytes().to_vec()
}

fn gps_of(bytes: &[u8]) -> Option<String> {
    let exif = exif::Reader::new()
        .read_from_container(&mut Cursor::new(bytes))
        .ok()?;
    exif.get_field(exif::Tag::GPSLatitudeRef, exif::In::PRIMARY)
        .map(|f| f.display_value().to_string())
}

async fn upload(app: &TestApp, token: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .header("authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

backend_test!(
    uploads_are_checked_stored_once_and_served_with_caching,
    |app| {
        let token = app.api_register("painter").await;
        let png = encoded(&picture(64, 48), ImageFormat::Png);
        let (status, body) =
            upload(&app, &token, "../../etc/pass\u{202e}gnp.png", png.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let upload_ = &body["upload"];
        let key = upload_["key"].as_str().unwrap().to_owned();
        assert!(key.ends_with(".png") && key.len() == 68, "{key}");
        assert_eq!(upload_["url"], format!("/media/{key}"));
        assert_eq!(
            (upload_["width"].as_u64(), upload_["height"].as_u64()),
            (Some(64), Some(48))
        );
        assert_eq!(upload_["contentType"], "image/png");
        assert_eq!(
            upload_["variants"],
            serde_json::json!([]),
            "never larger than the original"
        );

        // The same image again, by someone else too: one object, one row.
        let other = app.api_register("sculptor").await;
        for token in [&token, &other] {
            let (status, body) = upload(&app, token, "again.png", png.clone()).await;
            assert_eq!(status, StatusCode::CREATED);
            assert_eq!(body["upload"]["key"], key.as_str());
        }
        let rows: i64 = query("SELECT COUNT(*) FROM media")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(rows, 1);
        let file_name: String = query("SELECT file_name FROM uploads WHERE file_name LIKE 'pass%'")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(
            file_name, "passgnp.png",
            "no folders, no direction overrides"
        );

        // Served: the stored bytes, whose hash is the name.
        let response = app
            .client
            .get(app.url(&format!("/media/{key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "image/png");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let served = response.bytes().await.unwrap();
        assert_eq!(format!("{:x}.png", Sha256::digest(&served)), key);

        let response = app
            .client
            .get(app.url(&format!("/media/{key}")))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 304);

        let response = app
            .client
            .get(app.url(&format!("/media/{key}")))
            .header("range", "bytes=0-9")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 206);
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes 0-9/{}", served.len()).as_str()
        );
        assert_eq!(response.bytes().await.unwrap(), served[..10]);
        let response = app
            .client
            .get(app.url(&format!("/media/{key}")))
            .header("range", format!("bytes={}-", served.len() + 10))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 416);

        // Names that are not an image's are nobody's file.
        for path in [
            "/media/..%2F..%2Fquire.db",
            "/media/abc.png",
            &format!("/media/{}", key.replace(".png", ".svg")),
            &format!("/media/{key}/100.webp"),
            &format!("/media/{}", key.replace('a', "b").replace('c', "d")),
        ] {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 404, "{path}");
        }

        // Without a token, nothing is uploaded.
        let (status, _) = upload(&app, "not-a-token", "x.png", png).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);

backend_test!(hostile_files_get_a_clear_refusal, |app| {
    let token = app.api_register("mallory").await;
    let png = encoded(&picture(32, 32), ImageFormat::Png);
    let mut bomb = png.clone();
    // The header claims 50,000 × 50,000 pixels (and its checksum agrees).
    bomb[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "notes.png",
            b"just some text, not a PNG".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JPEG, PNG, GIF or WebP",
        ),
        (
            "logo.svg",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JPEG, PNG, GIF or WebP",
        ),
        (
            "page.png",
            b"<!doctype html><script>alert(1)</script>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JPEG, PNG, GIF or WebP",
        ),
        (
            "half.png",
            png[..png.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "truncated or damaged",
        ),
        (
            "bomb.png",
            bomb,
            StatusCode::UNPROCESSABLE_ENTITY,
            "too many pixels",
        ),
        (
            "empty.png",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing",
        ),
    ];
    for (name, bytes, status, says) in cases {
        let (got, body) = upload(&app, &token, name, bytes).await;
        assert_eq!(got, status, "{name}: {body}");
        let message = body["errors"]["file"][0].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {message}");
    }
    let stored: i64 = query("SELECT COUNT(*) FROM media")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing refused is stored");

    // A JPEG that is also an HTML page (in a comment segment) is a JPEG:
    // stored without the comment, served as an image that runs nothing.
    let jpeg = encoded(&picture(16, 16), ImageFormat::Jpeg);
    let html = b"<html><script>alert(document.cookie)</script></html>";
    let mut polyglot = jpeg[..2].to_vec();
    polyglot.extend([0xFF, 0xFE]);
    polyglot.extend(((html.len() + 2) as u16).to_be_bytes());
    polyglot.extend(html);
    polyglot.extend(&jpeg[2..]);
    let (status, body) = upload(&app, &token, "both.html", polyglot).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = body["upload"]["key"].as_str().unwrap();
    assert!(key.ends_with(".jpg"));
    let response = app
        .client
        .get(app.url(&format!("/media/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let served = response.bytes().await.unwrap();
    assert!(
        !served.windows(7).any(|w| w == b"<script"),
        "the comment is gone"
    );
});

/// The CRC-32 PNG chunks carry (of the type and data).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

backend_test!(photos_lose_their_location_and_are_turned_upright, |app| {
    let token = app.api_register("traveller").await;
    let photo = phone_jpeg();
    assert_eq!(
        gps_of(&photo).as_deref(),
        Some("N"),
        "the fixture carries a position"
    );
    let (status, body) = upload(&app, &token, "IMG_0001.jpg", photo).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (
            body["upload"]["width"].as_u64(),
            body["upload"]["height"].as_u64()
        ),
        (Some(20), Some(40)),
        "turned as the EXIF orientation said"
    );
    let served = app
        .client
        .get(app.url(body["upload"]["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(gps_of(&served), None, "no position in what is served");
    assert!(
        exif::Reader::new()
            .read_from_container(&mut Cursor::new(&served[..]))
            .is_err(),
        "no EXIF at all"
    );
    let decoded = image::load_from_memory(&served).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (20, 40));
});

backend_test!(
    smaller_copies_are_made_in_the_background_and_shown_in_posts,
    |app| {
        app.register("author").await;
        let token = app.api_register("apiauthor").await;
        let wide = encoded(&picture(1200, 600), ImageFormat::Png);
        let (status, body) = upload(&app, &token, "wide.png", wide).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let url = body["upload"]["url"].as_str().unwrap().to_owned();
        let widths: Vec<u64> = body["upload"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["width"].as_u64().unwrap())
            .collect();
        assert_eq!(widths, [480, 960]);

        // Before the worker has run, a copy's address serves the original,
        // briefly.
        let early = app
            .client
            .get(app.url(&format!("{url}/480.webp")))
            .send()
            .await
            .unwrap();
        assert_eq!(early.status(), 200);
        assert_eq!(early.headers()["content-type"], "image/png");
        assert_eq!(early.headers()["cache-control"], "public, max-age=60");

        let worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        worker.stop().await;
        for width in [480u32, 960] {
            let response = app
                .client
                .get(app.url(&format!("{url}/{width}.webp")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "image/webp");
            assert_eq!(
                response.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            let copy = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
            assert_eq!((copy.width(), copy.height()), (width, width / 2));
        }

        // In a post: its size, its copies, loaded lazily; the media page says
        // where it is used.
        let (status, body) = app
        .api(
            reqwest::Method::POST,
            "/api/articles",
            Some(&token),
            Some(serde_json::json!({"article": {"title": "Wide", "description": "d", "body": format!("![A wide gradient]({url})")}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let slug = body["article"]["slug"].as_str().unwrap().to_owned();
        let page = app.get(&format!("/posts/{slug}")).await;
        let img = format!(".prose img[src=\"{url}\"]");
        assert_eq!(page.attr(&img, "width").as_deref(), Some("1200"));
        assert_eq!(page.attr(&img, "height").as_deref(), Some("600"));
        assert_eq!(page.attr(&img, "loading").as_deref(), Some("lazy"));
        assert_eq!(page.attr(&img, "alt").as_deref(), Some("A wide gradient"));
        assert_eq!(
            page.attr(&img, "srcset").as_deref(),
            Some(format!("{url}/480.webp 480w, {url}/960.webp 960w, {url} 1200w").as_str())
        );
        let uses: i64 = query("SELECT COUNT(*) FROM media_uses WHERE post_id IS NOT NULL")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(uses, 1);
    }
);

backend_test!(quotas_and_housekeeping_keep_storage_bounded, |app| {
    let token = app.api_register("hoarder").await;
    let first = encoded(&picture(300, 300), ImageFormat::Png);
    let (status, body) = upload(&app, &token, "a.png", first.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let size = body["upload"]["bytes"].as_u64().unwrap();
    let key = body["upload"]["key"].as_str().unwrap().to_owned();

    // The site's own pages: the media page lists it, unused.
    let browser = app.new_browser();
    browser.register("pagereader").await;
    let page = browser.get("/media").await;
    page.assert_status(200);
    assert!(page.contains("You have not uploaded any images yet."));

    // Housekeeping leaves an unused upload for a day, then removes it and
    // its object.
    let now = quire::db::Timestamp::now();
    let purged = quire::features::media::purge_unused(&app.app, now)
        .await
        .unwrap();
    assert_eq!((purged.uploads, purged.objects), (0, 0));
    let later = now + time::Duration::days(2);
    let purged = quire::features::media::purge_unused(&app.app, later)
        .await
        .unwrap();
    assert_eq!((purged.uploads, purged.objects), (1, 1));
    let response = app
        .client
        .get(app.url(&format!("/media/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Past the quota: 413, saying what is used.
    let small = TestApp::try_spawn_with(app.backend, |s| {
        s.media.quota_bytes = size + size / 2;
        s.media.upload_max_bytes = 200_000;
    })
    .await
    .unwrap();
    let token = small.api_register("hoarder").await;
    let (status, _) = upload(&small, &token, "a.png", first.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = upload(&small, &token, "a-again.png", first).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the same image costs nothing more"
    );
    let second = encoded(&picture(301, 300), ImageFormat::Png);
    let (status, body) = upload(&small, &token, "b.png", second).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let message = body["errors"]["file"][0].as_str().unwrap();
    assert!(message.contains("used"), "{message}");
    let huge = vec![0u8; 300_000];
    let (status, body) = upload(&small, &token, "huge.png", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
});

backend_test!(the_media_page_uploads_without_javascript, |app| {
    app.register("writer").await;
    let csrf = app.csrf().await;
    let png = encoded(&picture(50, 40), ImageFormat::Png);
    let form = Form::new()
        .text("csrf_token", csrf.clone())
        .part("file", Part::bytes(png).file_name("cat.png"));
    let response = app
        .client
        .post(app.url("/media"))
        .header("origin", app.base.as_str().trim_end_matches('/'))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let html = scraper::Html::parse_document(&response.text().await.unwrap());
    let selector = scraper::Selector::parse(".uploaded code").unwrap();
    let markdown: String = html.select(&selector).flat_map(|e| e.text()).collect();
    assert!(
        markdown.starts_with("![](/media/"),
        "the Markdown to copy: {markdown}"
    );
    let page = app.get("/media").await;
    assert_eq!(page.texts(".media-list tbody tr").len(), 1);
    assert!(page.contains("Not used"));

    // Unused, it can be deleted.
    let key: String = query("SELECT name FROM uploads")
        .scalar(&app.db)
        .await
        .unwrap();
    let page = app.post(&format!("/media/{key}/delete"), &[]).await;
    page.assert_redirect("/media");
    assert!(
        app.get("/media")
            .await
            .contains("You have not uploaded any images yet.")
    );

    // A text file through the form: the page again, with the reason.
    let form = Form::new()
        .text("csrf_token", csrf)
        .part("file", Part::bytes(b"hello".to_vec()).file_name("x.png"));
    let response = app
        .client
        .post(app.url("/media"))
        .header("origin", app.base.as_str().trim_end_matches('/'))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("JPEG, PNG, GIF or WebP")
    );
});

/// The real binary with `QUIRE_STORAGE_URL=s3://…` against an
/// S3-compatible server (moto) on loopback, on each database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_to_s3_when_asked() {
    let Some(s3) = crate::s3_server::S3Server::start() else {
        return;
    };
    for backend in crate::helpers::backends() {
        let dir = tempfile::tempdir().unwrap();
        let Some((database_url, _db)) = fresh_database_url(backend, dir.path()).await else {
            continue;
        };
        let mut env: Vec<(&str, String)> = s3.env();
        env.push((
            "QUIRE_STORAGE_URL",
            format!("s3://{}/media-{backend:?}", s3.bucket),
        ));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = QuireProcess::start(&["serve", "--migrate"], &database_url, dir.path(), &env);
        server.wait_until_up().await;
        let client = reqwest::Client::new();
        let (status, body): (StatusCode, Value) = {
            let r = client
                .post(format!("{}/api/users", server.base))
                .json(&serde_json::json!({"user": {"username": "s3user", "email": "s3@example.com", "password": "correct horse"}}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json().await.unwrap())
        };
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = body["user"]["token"].as_str().unwrap();
        let png = encoded(&picture(20, 20), ImageFormat::Png);
        let response = client
            .post(format!("{}/api/uploads", server.base))
            .header("authorization", format!("Token {token}"))
            .multipart(Form::new().part("file", Part::bytes(png).file_name("s3.png")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        let key = body["upload"]["key"].as_str().unwrap();
        use object_store::ObjectStoreExt;
        let stored = s3
            .client()
            .get(&object_store::path::Path::from(format!(
                "media-{backend:?}/originals/{key}"
            )))
            .await
            .expect("the object is in the bucket")
            .bytes()
            .await
            .unwrap();
        let served = client
            .get(format!("{}/media/{key}", server.base))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(served, stored);
    }
}

/// Posts a multipart form from the site, with its token first, as a browser
/// does.
async fn post_files(
    browser: &crate::helpers::Browser,
    path: &str,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = Form::new()
        .text("csrf_token", browser.csrf().await)
        .part("file", Part::bytes(bytes).file_name(name.to_owned()));
    browser
        .client
        .post(browser.url(path))
        .header("origin", browser.base.as_str().trim_end_matches('/'))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

backend_test!(
    members_upload_a_profile_picture_and_take_their_images_when_they_leave,
    |app| {
        app.register("owner").await;
        let member = app.new_browser();
        member.register("portrait").await;

        // A text file: the settings page again, with the reason.
        let response = post_files(
            &member,
            "/settings/avatar",
            "me.png",
            b"not an image".to_vec(),
        )
        .await;
        assert_eq!(response.status(), 415);
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("JPEG, PNG, GIF or WebP")
        );

        let wide = encoded(&picture(800, 800), ImageFormat::Png);
        let response = post_files(&member, "/settings/avatar", "me.png", wide).await;
        assert_eq!(response.status(), 303);
        let image: String = query("SELECT image FROM users WHERE username = 'portrait'")
            .scalar(&app.db)
            .await
            .unwrap();
        assert!(image.ends_with(".png/480.webp"), "the small copy: {image}");
        assert!(
            image.starts_with("http"),
            "an absolute address, as the API gives: {image}"
        );
        let profile = app.get("/users/portrait").await;
        assert!(profile.html().html().contains(".png/480.webp"));

        // An image never used.
        let unused = encoded(&picture(40, 40), ImageFormat::Png);
        let response = post_files(&member, "/media", "unused.png", unused).await;
        assert_eq!(response.status(), 200);
        let uploads: i64 = query("SELECT COUNT(*) FROM uploads")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(uploads, 2);

        // Leaving: the picture is no longer used, and what they uploaded that
        // nothing uses goes with them.
        member
            .post("/settings/delete", &[("password", "correct horse")])
            .await;
        let worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        worker.stop().await;
        let left: i64 = query("SELECT COUNT(*) FROM uploads")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(left, 0);
        let purged = quire::features::media::purge_unused(
            &app.app,
            quire::db::Timestamp::now() + time::Duration::days(2),
        )
        .await
        .unwrap();
        assert_eq!(purged.objects, 2);
    }
);

backend_test!(the_same_image_uploaded_at_once_is_stored_once, |app| {
    let tokens = [
        app.api_register("twin1").await,
        app.api_register("twin2").await,
    ];
    let png = encoded(&picture(200, 100), ImageFormat::Png);
    let uploads = (0..8).map(|i| {
        let (token, png) = (tokens[i % 2].clone(), png.clone());
        let app = &app;
        async move { upload(app, &token, "same.png", png).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let keys: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::CREATED, "{body}");
            body["upload"]["key"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 1);
    let rows: i64 = query("SELECT COUNT(*) FROM media")
        .scalar(&app.db)
        .await
        .unwrap();
    let uploads: i64 = query("SELECT COUNT(*) FROM uploads")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!((rows, uploads), (1, 2), "one image, once per member");
});

/// A part of an editor form as a browser sends it, in the page's order.
enum Sent<'a> {
    Text(&'a str, &'a str),
    File(&'a str, Vec<u8>),
}

/// Posts the editor's form as a browser without JavaScript does: multipart,
/// the token first, the fields and files in the order of the page.
async fn post_editor(app: &Browser, path: &str, parts: Vec<Sent<'_>>) -> crate::helpers::Page {
    let mut form = Form::new().text("csrf_token", app.csrf().await);
    for part in parts {
        form = match part {
            Sent::Text(name, value) => form.text(name.to_owned(), value.to_owned()),
            Sent::File(name, bytes) => {
                form.part("file", Part::bytes(bytes).file_name(name.to_owned()))
            }
        };
    }
    let response = app
        .client
        .post(app.url(path))
        .header("origin", app.base.as_str().trim_end_matches('/'))
        .multipart(form)
        .send()
        .await
        .unwrap();
    Browser::page(response).await
}

/// The editor's form around `files`, as typed.
fn editor_parts<'a>(
    body: &'a str,
    files: Vec<(&'a str, Vec<u8>)>,
    action: &'a str,
) -> Vec<Sent<'a>> {
    let mut parts = vec![
        Sent::Text("title", "Holiday photos"),
        Sent::Text("description", "Where we went"),
        Sent::Text("body", body),
    ];
    parts.extend(
        files
            .into_iter()
            .map(|(name, bytes)| Sent::File(name, bytes)),
    );
    parts.extend([
        Sent::Text("tags", "travel, photos"),
        Sent::Text("publish_at", ""),
    ]);
    if !action.is_empty() {
        parts.push(Sent::Text("action", action));
    }
    parts
}

async fn uploaded_names(app: &TestApp) -> Vec<String> {
    query("SELECT name FROM uploads ORDER BY id")
        .scalars(&app.db)
        .await
        .unwrap()
}

backend_test!(the_editor_uploads_images_without_javascript, |app| {
    app.register("writer").await;
    let cat = encoded(&picture(50, 40), ImageFormat::Png);
    let dog = encoded(&picture(40, 50), ImageFormat::Jpeg);

    // "Upload images": the editor again, with everything typed kept and
    // each image's Markdown at the end of the body, to be described.
    let page = post_editor(
        &app,
        "/editor?upload",
        editor_parts(
            "Some words.\r\n",
            vec![("cat.png", cat.clone()), ("dog.jpg", dog)],
            "",
        ),
    )
    .await;
    page.assert_status(200);
    let names = uploaded_names(&app).await;
    assert_eq!(names.len(), 2);
    let body = format!(
        "Some words.\r\n\n![](/media/{})\n\n![](/media/{})\n",
        names[0], names[1]
    );
    let textarea: String = page
        .html()
        .select(&scraper::Selector::parse("textarea#body").unwrap())
        .flat_map(|e| e.text())
        .collect();
    assert_eq!(
        textarea,
        body.replace('\r', ""),
        "as the browser will show it"
    );
    assert_eq!(
        page.attr("#title", "value").as_deref(),
        Some("Holiday photos")
    );
    assert_eq!(
        page.attr("#description", "value").as_deref(),
        Some("Where we went")
    );
    assert_eq!(
        page.attr("#tags", "value").as_deref(),
        Some("travel, photos")
    );
    let note = page.texts("[role=status]").join(" ");
    assert!(
        note.contains("2 images added") && note.contains("people who cannot see it"),
        "{note}"
    );
    assert!(page.texts(".field-errors").is_empty());

    // Publishing sends the chosen files again (the input keeps them), and
    // they are passed over: only "Upload images" uploads.
    let page = post_editor(
        &app,
        "/editor",
        editor_parts(
            &body,
            vec![("cat-again.png", encoded(&picture(70, 70), ImageFormat::Png))],
            "publish",
        ),
    )
    .await;
    page.assert_redirect("/posts/holiday-photos");
    assert_eq!(
        uploaded_names(&app).await,
        names,
        "nothing more was uploaded"
    );
    let post = app.get("/posts/holiday-photos").await;
    let img = format!(".prose img[src=\"/media/{}\"]", names[0]);
    assert_eq!(post.attr(&img, "width").as_deref(), Some("50"));
    assert_eq!(post.texts(".post .tags a"), ["travel", "photos"]);

    // Editing: the same, on the post's own address.
    let page = post_editor(
        &app,
        "/posts/holiday-photos/edit?upload",
        vec![
            Sent::Text("title", "Holiday photos"),
            Sent::Text("body", "Edited."),
            Sent::File("bird.png", encoded(&picture(30, 30), ImageFormat::Png)),
        ],
    )
    .await;
    page.assert_status(200);
    let bird = uploaded_names(&app).await.pop().unwrap();
    assert_eq!(
        page.texts("textarea#body"),
        [format!("Edited. ![](/media/{bird})")]
    );
    assert!(
        page.texts("[role=status]")
            .join(" ")
            .contains("1 image added")
    );
    assert!(
        !app.get("/posts/holiday-photos").await.contains(&bird),
        "nothing is saved until a button that saves"
    );

    // A form whose first field is not the visitor's token uploads nothing.
    for first in [("csrf_token", "not-the-token"), ("title", "Forged")] {
        let response = app
            .client
            .post(app.url("/editor?upload"))
            .multipart(Form::new().text(first.0, first.1).part(
                "file",
                Part::bytes(encoded(&picture(9, 9), ImageFormat::Png)).file_name("x.png"),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{first:?}");
    }
    assert_eq!(uploaded_names(&app).await.len(), 3);
});

backend_test!(a_refused_image_is_shown_beside_the_file_input, |app| {
    app.register("writer").await;
    let good = encoded(&picture(20, 20), ImageFormat::Png);

    // The second of two files is not an image: the first is in the body,
    // the second's reason beside the input, everything typed kept.
    let page = post_editor(
        &app,
        "/editor?upload",
        editor_parts(
            "My words",
            vec![("good.png", good), ("notes.png", b"just text".to_vec())],
            "",
        ),
    )
    .await;
    page.assert_status(415);
    let names = uploaded_names(&app).await;
    assert_eq!(names.len(), 1);
    assert_eq!(
        page.texts("textarea#body"),
        [format!("My words ![](/media/{})", names[0])]
    );
    assert_eq!(
        page.attr("#title", "value").as_deref(),
        Some("Holiday photos")
    );
    assert_eq!(
        page.attr("#tags", "value").as_deref(),
        Some("travel, photos")
    );
    assert_eq!(
        page.texts("#file-errors li"),
        ["File “notes.png” is not an image we accept: upload a JPEG, PNG, GIF or WebP image"]
    );
    assert_eq!(page.attr("#file", "aria-invalid").as_deref(), Some("true"));
    assert_eq!(
        page.attr("#file", "aria-describedby").as_deref(),
        Some("file-errors")
    );

    // Pressed with no file chosen: the empty input's part, and a reason.
    let page = post_editor(
        &app,
        "/editor?upload",
        editor_parts("Still mine", vec![("", Vec::new())], ""),
    )
    .await;
    page.assert_status(422);
    assert_eq!(page.texts("textarea#body"), ["Still mine"]);
    assert_eq!(
        page.texts("#file-errors li"),
        ["File is missing: choose an image to upload"]
    );

    // Too large for the site: the same, with the limit.
    let small = TestApp::try_spawn_with(app.backend, |s| s.media.upload_max_bytes = 1000)
        .await
        .unwrap();
    small.register("writer").await;
    let page = post_editor(
        &small,
        "/editor?upload",
        editor_parts(
            "Kept",
            vec![("big.png", encoded(&picture(300, 300), ImageFormat::Png))],
            "",
        ),
    )
    .await;
    page.assert_status(413);
    assert_eq!(page.texts("textarea#body"), ["Kept"]);
    assert_eq!(
        page.attr("#tags", "value").as_deref(),
        Some("travel, photos")
    );
    assert!(
        page.texts("#file-errors li")[0].contains("“big.png” is too large"),
        "{:?}",
        page.texts("#file-errors li")
    );
});

backend_test!(the_editors_script_reads_refusals_as_words, |app| {
    app.register("scripter").await;
    let csrf = app.csrf().await;
    let send = |file: Vec<u8>, client: &reqwest::Client| {
        client
            .post(app.url("/media"))
            .header("accept", "application/json")
            .multipart(
                Form::new()
                    .text("csrf_token", csrf.clone())
                    .part("file", Part::bytes(file).file_name("x.png")),
            )
            .send()
    };
    let response = send(b"not an image".to_vec(), &app.client).await.unwrap();
    assert_eq!(response.status(), 415);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        response.text().await.unwrap(),
        "The file is not an image we accept: upload a JPEG, PNG, GIF or WebP image."
    );
    // Signed out, it is told so, rather than sent to the sign-in page.
    let response = send(b"x".to_vec(), &app.new_browser().client)
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().await.unwrap(), "Please sign in first.");
});

/// A comment form with `body` and one file, as a browser without
/// JavaScript sends it.
async fn with_file(
    browser: &Browser,
    path: &str,
    body: &str,
    file: &str,
    bytes: Vec<u8>,
) -> crate::helpers::Page {
    let parts = vec![Sent::Text("body", body), Sent::File(file, bytes)];
    post_editor(browser, path, parts).await
}

backend_test!(comments_take_images_without_javascript, |app| {
    app.register("writer").await;
    let slug = app.publish("Trip", "Words.", "").await;
    let reader = app.new_browser();
    reader.register("reader").await;
    let comments = format!("/posts/{slug}/comments");

    // The form comes back in view, with what was typed.
    let post = reader.get(&format!("/posts/{slug}")).await;
    assert_eq!(
        post.attr("form#add-comment", "action"),
        Some(format!("{comments}#add-comment"))
    );

    // "Upload images": the post again, the image's Markdown after the text.
    let page = with_file(
        &reader,
        &format!("{comments}?upload"),
        "Look:",
        "view.png",
        encoded(&picture(50, 40), ImageFormat::Png),
    )
    .await;
    page.assert_status(200);
    let name = uploaded_names(&app).await.pop().unwrap();
    let body = format!("Look:\n\n![](/media/{name})\n");
    let textarea: String = page
        .html()
        .select(&scraper::Selector::parse("textarea#comment-body").unwrap())
        .flat_map(|e| e.text())
        .collect();
    assert_eq!(textarea, body);
    assert!(
        page.texts("[role=status]")
            .join(" ")
            .contains("1 image added at the end of your comment")
    );

    // Posted, the comment shows it with its size.
    let posted = post_editor(
        &reader,
        &comments,
        vec![Sent::Text("body", &body), Sent::Text("action", "post")],
    )
    .await;
    let location = posted.location.clone().expect("a redirect to the comment");
    let id = location.rsplit("#comment-").next().unwrap().to_owned();
    let shown = reader.get(&format!("/posts/{slug}")).await;
    let img = format!("#comment-{id} .prose img[src=\"/media/{name}\"]");
    assert_eq!(shown.attr(&img, "width").as_deref(), Some("50"));

    // A refused file: its reason beside the input, the text kept.
    let page = with_file(
        &reader,
        &format!("{comments}?upload"),
        "Mine",
        "notes.png",
        b"just text".to_vec(),
    )
    .await;
    page.assert_status(415);
    assert_eq!(page.texts("textarea#comment-body"), ["Mine"]);
    assert!(page.texts("#file-errors li")[0].contains("“notes.png”"));

    // Editing a comment takes images the same way.
    let page = with_file(
        &reader,
        &format!("{comments}/{id}/edit?upload"),
        "Edited.",
        "bird.png",
        encoded(&picture(30, 30), ImageFormat::Png),
    )
    .await;
    page.assert_status(200);
    let bird = uploaded_names(&app).await.pop().unwrap();
    assert_eq!(
        page.texts("textarea#comment-body"),
        [format!("Edited. ![](/media/{bird})")]
    );
});

backend_test!(images_are_served_from_a_cdn_when_one_is_set, |app| {
    app.register("writer").await;
    let page = post_editor(
        &app,
        "/editor?upload",
        editor_parts(
            "",
            vec![("wide.png", encoded(&picture(1000, 500), ImageFormat::Png))],
            "",
        ),
    )
    .await;
    page.assert_status(200);
    let name = uploaded_names(&app).await.pop().unwrap();
    let slug = app
        .publish("Wide", &format!("![A wide one](/media/{name})"), "")
        .await;
    let html = |app: quire::app::App| {
        let slug = slug.clone();
        async move {
            quire::features::posts::find(&app, &slug, None)
                .await
                .unwrap()
                .body_html
                .unwrap()
        }
    };
    let own = html(app.app.clone()).await;
    assert!(own.contains(&format!(r#"src="/media/{name}""#)), "{own}");
    assert!(
        own.contains(&format!("/media/{name}/480.webp 480w")),
        "{own}"
    );

    // Another process with a CDN: the stored HTML was made for the site's
    // own address, so it is made again, and stays so while read there.
    let base = "https://cdn.example.com/media/";
    let cdn_settings = app.settings(|s| s.media.base_url = Some(base.parse().unwrap()));
    let cdn = quire::app::App::build(cdn_settings, app.db.clone()).unwrap();
    let served = html(cdn.clone()).await;
    assert!(
        served.contains(&format!(r#"src="{base}{name}""#))
            && served.contains(&format!("{base}{name}/480.webp 480w"))
            && served.contains(&format!("{base}{name}/960.webp 960w")),
        "{served}"
    );
    assert!(!served.contains(r#""/media/"#), "{served}");
    let version: i32 = query("SELECT body_html_version FROM posts WHERE slug = $1")
        .bind(&slug)
        .scalar(&app.db)
        .await
        .unwrap();
    assert_ne!(version, quire::markdown::VERSION);
    assert_eq!(html(cdn).await, served);
    // And back, when the CDN goes.
    assert_eq!(html(app.app.clone()).await, own);

    // A profile picture set there is fetched from the CDN too, and counts
    // as a use of the image.
    let with_cdn = TestApp::try_spawn_with(app.backend, |s| {
        s.media.base_url = Some(base.parse().unwrap())
    })
    .await
    .unwrap();
    with_cdn.register("portrait").await;
    let response = post_files(
        &with_cdn,
        "/settings/avatar",
        "me.png",
        encoded(&picture(600, 600), ImageFormat::Png),
    )
    .await;
    assert_eq!(response.status(), 303);
    let (image, uses): (Option<String>, i64) = query(
        "SELECT image, (SELECT COUNT(*) FROM media_uses WHERE user_id = users.id)
         FROM users WHERE username = 'portrait'",
    )
    .fetch_one(&with_cdn.db)
    .await
    .unwrap();
    let image = image.unwrap();
    assert!(
        image.starts_with(base) && image.ends_with("/480.webp"),
        "{image}"
    );
    assert_eq!(uses, 1);
});
