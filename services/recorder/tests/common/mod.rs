//! Test harnesses for the recorder: the real servers of `moat-testkit`, plus
//! the launcher's stream definitions for RUN_EVENTS and RUN_RESULTS, which
//! the tests create themselves (the recorder never does).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use moat_wire::subjects;

use moat_testkit::Postgres;

/// RUN_EVENTS and RUN_RESULTS exactly as `moat_launcher::nats::ensure_streams`
/// defines them.
pub async fn create_streams(js: &jetstream::Context) {
    js.create_stream(stream::Config {
        name: subjects::RUN_EVENTS.into(),
        subjects: vec![subjects::EVENTS_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    js.create_stream(stream::Config {
        name: subjects::RUN_RESULTS.into(),
        subjects: vec![subjects::DONE_ALL.into()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .unwrap();
}

/// A fresh, empty database on `pg`; its URL.
pub async fn fresh_database(pg: &Postgres) -> String {
    use sea_orm::ConnectionTrait;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("t{}_{n}", std::process::id());
    let admin = sea_orm::Database::connect(&pg.url).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    pg.database_url(&name)
}

/// A fresh SQLite database file in `dir`; its URL.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("moat.db").display())
}
