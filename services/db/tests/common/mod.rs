//! Test harnesses for the storage suite: a fresh database per case on the
//! real PostgreSQL of `moat-testkit`, or a SQLite file in a temporary
//! directory.

use std::path::Path;

use moat_testkit::Postgres;

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
