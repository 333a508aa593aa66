//! Images: `cargo bench --bench media`.
//!
//! Starts the release server (its worker in the same process, as a single
//! machine runs it) on SQLite, and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set, and measures in one run: uploads of a
//! 4 MB JPEG (a noisy 3,000 × 2,000 photo, each a different image) one
//! after another, as uploads per second; for each, the time from its
//! upload's answer until its largest smaller copy is served; the server's
//! peak memory (VmHWM) by then; and serving one copy, 64 keep-alive
//! connections, as a share of `/healthz` in the same run. Environment:
//! QUIRE_BENCH_UPLOADS (default 8), QUIRE_BENCH_REQUESTS (50000),
//! QUIRE_BENCH_CONCURRENCY (64).

use std::time::{Duration, Instant};

use image::{DynamicImage, RgbImage};
use serde_json::Value;

#[path = "common.rs"]
mod common;

use common::{env_number, load, start, wait_until_up};

/// A 3,000 × 2,000 photo-like JPEG of about 4 MB: gradients under noise,
/// which compresses as poorly as a real photo's detail does.
fn photo(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let image = RgbImage::from_fn(3000, 2000, |x, y| {
        // xorshift: cheap, deterministic noise
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state & 0x2f) as u8;
        image::Rgb([
            ((x / 12) as u8).wrapping_add(noise),
            ((y / 8) as u8).wrapping_add(noise / 2),
            ((x + y) as u8 / 3).wrapping_add(noise),
        ])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut std::io::Cursor::new(&mut out),
            90,
        ))
        .unwrap();
    out
}

async fn bench(backend: &str, database_url: &str, data_dir: &std::path::Path, photos: &[Vec<u8>]) {
    let requests = env_number("QUIRE_BENCH_REQUESTS", 50_000);
    let concurrency = env_number("QUIRE_BENCH_CONCURRENCY", 64);
    let server = start(database_url, data_dir);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let base = server.base.clone();
    wait_until_up(&client, &base).await;
    let token = common::register(&client, &base, &format!("bench{backend}")).await;

    // Uploads, one after another; then when each one's copies exist.
    let started = Instant::now();
    let mut uploaded = Vec::new();
    for photo in photos {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(photo.clone()).file_name("photo.jpg"),
        );
        let response = client
            .post(format!("{base}/api/uploads"))
            .header("authorization", &token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        uploaded.push((
            Instant::now(),
            body["upload"]["url"].as_str().unwrap().to_owned(),
        ));
    }
    let upload_seconds = started.elapsed().as_secs_f64();
    let mut until_copies = Vec::new();
    for (answered, url) in &uploaded {
        let copy = format!("{base}{url}/1920.webp");
        loop {
            let response = client.get(&copy).send().await.unwrap();
            if response.headers()["content-type"] == "image/webp" {
                break;
            }
            assert!(
                answered.elapsed() < Duration::from_secs(120),
                "no copy of {url} after 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        until_copies.push(answered.elapsed());
    }
    until_copies.sort();
    let megabytes = photos.iter().map(Vec::len).sum::<usize>() as f64 / photos.len() as f64 / 1e6;
    println!(
        "{backend:<10} uploads of a {megabytes:.1} MB JPEG: {:.2}/s ({} in {upload_seconds:.1} s)",
        photos.len() as f64 / upload_seconds,
        photos.len()
    );
    println!(
        "{backend:<10} from an upload's answer to its 1920 px copy: median {:.2} s, slowest {:.2} s (made one after another by the worker)",
        until_copies[until_copies.len() / 2].as_secs_f64(),
        until_copies[until_copies.len() - 1].as_secs_f64()
    );
    println!(
        "{backend:<10} server's peak memory (web and worker in one process): {:.0} MiB",
        server.peak_rss_mib()
    );

    // Serving a copy against the HTTP floor.
    let healthz = format!("{base}/healthz");
    let c = client.clone();
    let floor = load(concurrency, requests, move |_| c.get(&healthz))
        .await
        .per_second();
    println!("{backend:<10} /healthz: {floor:>8.0}/s");
    let copy = format!("{base}{}/960.webp", uploaded[0].1);
    let size = client
        .get(&copy)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let c = client.clone();
    let mut run = load(concurrency, requests, move |_| c.get(&copy)).await;
    println!(
        "{backend:<10} a 960 px copy ({} KiB): {}",
        size / 1024,
        run.against(floor, Some(50.0))
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    let uploads = env_number("QUIRE_BENCH_UPLOADS", 8);
    println!("making {uploads} photos…");
    let photos: Vec<Vec<u8>> = (0..uploads as u32).map(photo).collect();
    let photos = &photos;
    common::on_each_database("media", |backend, url, data| async move {
        bench(backend, &url, &data, photos).await
    })
    .await;
}
