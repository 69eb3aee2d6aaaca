//! Test harnesses for the recorder: the real servers of `moat-testkit`, plus
//! RUN_EVENTS and RUN_RESULTS from their one definition in `moat-queue`,
//! which the tests create themselves (the recorder never does).
#![allow(dead_code)]

use std::path::Path;

use async_nats::jetstream;

use moat_testkit::Postgres;

/// RUN_EVENTS and RUN_RESULTS as `moat_queue::streams` defines them.
pub async fn create_streams(js: &jetstream::Context) {
    moat_queue::ensure_streams(
        js,
        vec![
            moat_queue::streams::events_stream(),
            moat_queue::streams::results_stream(),
        ],
    )
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
