//! `moat keys` end to end: the real binary against a real SQLite database,
//! checked through the same lookups the edge makes.

use std::process::Command;

fn moat(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .arg("keys")
        .args(args)
        .env("MOAT_DATABASE_URL", db)
        .output()
        .expect("run moat")
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/moat.db?mode=rwc", dir.path().display());
    let out = moat(&db, &["create", "--tenant", "acme", "--label", "ci"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("moat_") && key.len() == 69, "{key}");

    let conn = moat_db::connect(&db).await.unwrap();
    let row = moat_db::lookup_api_key(&conn, &key)
        .await
        .unwrap()
        .expect("the key works");
    assert_eq!(row.tenant, "acme");

    let list = String::from_utf8(moat(&db, &["list"]).stdout).unwrap();
    assert!(
        list.contains(&row.id) && list.contains("live") && !list.contains(&key),
        "{list}"
    );

    assert!(moat(&db, &["revoke", &row.id]).status.success());
    assert!(moat_db::lookup_api_key(&conn, &key)
        .await
        .unwrap()
        .is_none());
    assert!(
        String::from_utf8(moat(&db, &["list", "--tenant", "acme"]).stdout)
            .unwrap()
            .contains("revoked")
    );
    let again = moat(&db, &["revoke", &row.id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no live key"));
    let bad = moat(&db, &["create", "--tenant", "a.b"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be 1 to 64"));
}
