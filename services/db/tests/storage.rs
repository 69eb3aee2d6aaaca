//! The storage suite: every case runs against SQLite (a temporary file) and
//! PostgreSQL (a real cluster on loopback, one fresh database per case),
//! through the same `db` functions the recorder and the edge call.

mod common;

/// Runs each named case in `cases` once per backend.
macro_rules! storage_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = crate::common::sqlite_url(dir.path());
                    let db = moat_db::connect(&url).await.unwrap();
                    crate::cases::$case(&db, &url).await;
                    db.close().await.unwrap();
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let url = crate::common::fresh_database(moat_testkit::Postgres::shared()).await;
                    let db = moat_db::connect(&url).await.unwrap();
                    crate::cases::$case(&db, &url).await;
                    db.close().await.unwrap();
                }
            )*
        }
    };
}

storage_suite!(
    migrations_apply_once,
    events_then_record,
    record_before_events,
    replays_change_nothing,
    later_attempt_wins,
    older_record_after_newer,
    excerpt_is_bounded,
    edge_insert_in_either_order,
    usage_by_day_range,
    network_use_is_kept_per_run_and_per_day,
    tenant_network_rules,
    api_keys,
    concurrent_duplicates_apply_once,
);

mod cases {
    use moat_db::{self as db, Applied, NewRun};
    use moat_wire::{
        Event, EventBody, FileRef, LogFrame, LogLevel, Outcome, ResultFrame, RunRecord,
        ScriptError, PROTOCOL_VERSION,
    };
    use sea_orm::{DatabaseConnection, TransactionTrait};

    const DAY1: u64 = 1_780_000_000_000; // 2026-05-28
    const DAY2: u64 = DAY1 + 86_400_000;

    fn log(run: &str, attempt: u32, seq: u64, msg: &str) -> Event {
        Event {
            v: PROTOCOL_VERSION,
            run: run.into(),
            attempt,
            seq,
            body: EventBody::Log(LogFrame {
                level: LogLevel::Info,
                msg: msg.into(),
                ts_ms: seq,
            }),
            stages: None,
        }
    }

    fn file(name: &str, size: u64) -> FileRef {
        FileRef {
            name: name.into(),
            media_type: "image/png".into(),
            size,
        }
    }

    fn file_event(run: &str, attempt: u32, seq: u64, f: FileRef) -> Event {
        Event {
            v: PROTOCOL_VERSION,
            run: run.into(),
            attempt,
            seq,
            body: EventBody::File(f),
            stages: None,
        }
    }

    fn result_event(run: &str, attempt: u32, seq: u64) -> Event {
        Event {
            v: PROTOCOL_VERSION,
            run: run.into(),
            attempt,
            seq,
            body: EventBody::Result(ResultFrame {
                outcome: Outcome::Ok,
                value: Some(serde_json::json!(42)),
                error: None,
                cpu_ms: 5,
                wall_ms: 9,
                heap_peak_bytes: 1000,
            }),
            stages: None,
        }
    }

    fn record(
        run: &str,
        tenant: &str,
        attempt: u32,
        cpu_ms: u64,
        files: Vec<FileRef>,
    ) -> RunRecord {
        RunRecord {
            v: PROTOCOL_VERSION,
            run: run.into(),
            tenant: tenant.into(),
            attempt,
            outcome: Outcome::Ok,
            value: Some(serde_json::json!({"answer": 42})),
            error: None,
            cpu_ms,
            wall_ms: cpu_ms * 2,
            heap_peak_bytes: 4096,
            queued_ms: 3,
            events: 4,
            log_bytes: 10,
            files,
            net: Default::default(),
            stages: Default::default(),
            submitted_ms: DAY1 - 1_000,
            finished_ms: DAY1,
        }
    }

    async fn events(db: &DatabaseConnection, events: &[Event]) {
        for event in events {
            db::apply_event(db, event).await.unwrap();
        }
    }

    async fn run_view(db: &DatabaseConnection, id: &str) -> db::RunView {
        db::get_run(db, id).await.unwrap().expect("the run exists")
    }

    async fn day_usage(db: &DatabaseConnection, tenant: &str, day: u64) -> (i64, i64, i64, i64) {
        let d = db::day_of_ms(day);
        let rows = db::usage(db, tenant, &d, &d).await.unwrap();
        rows.first()
            .map(|u| (u.runs, u.cpu_ms, u.wall_ms, u.bytes_out))
            .unwrap_or_default()
    }

    pub async fn migrations_apply_once(db: &DatabaseConnection, url: &str) {
        // Connecting again runs the migrator again: nothing left to apply.
        let again = db::connect(url).await.unwrap();
        assert!(db::get_run(&again, "nope").await.unwrap().is_none());
        again.close().await.unwrap();
        assert!(db::get_run(db, "nope").await.unwrap().is_none());
    }

    pub async fn events_then_record(db: &DatabaseConnection, _: &str) {
        events(db, &[log("r1", 1, 1, "hello"), log("r1", 1, 2, "world")]).await;
        let v = run_view(db, "r1").await;
        assert_eq!(v.run.status, "running");
        assert_eq!(v.run.attempt, 1);
        assert_eq!(v.run.tenant, "");
        events(
            db,
            &[
                file_event("r1", 1, 3, file("a.png", 7)),
                result_event("r1", 1, 4),
            ],
        )
        .await;
        assert_eq!(run_view(db, "r1").await.run.status, "running");
        let applied = db::apply_record(db, &record("r1", "t1", 1, 5, vec![file("a.png", 7)]))
            .await
            .unwrap();
        assert_eq!(applied, Applied::New);
        let v = run_view(db, "r1").await;
        assert_eq!(v.run.status, "done");
        assert_eq!(v.run.tenant, "t1");
        assert_eq!(v.run.outcome.as_deref(), Some("ok"));
        assert_eq!(v.run.value.as_deref(), Some(r#"{"answer":42}"#));
        assert_eq!(v.run.error, None);
        assert_eq!(
            (
                v.run.cpu_ms,
                v.run.wall_ms,
                v.run.heap_peak_bytes,
                v.run.queued_ms
            ),
            (Some(5), Some(10), Some(4096), Some(3))
        );
        assert_eq!((v.run.events, v.run.log_bytes), (Some(4), Some(10)));
        assert_eq!(v.run.finished_ms, Some(DAY1 as i64));
        let msgs: Vec<_> = v.logs.iter().map(|l| l.msg.as_str()).collect();
        assert_eq!(msgs, ["hello", "world"]);
        assert_eq!(v.logs[0].level, "info");
        assert_eq!(v.files.len(), 1);
        assert_eq!(v.files[0].key, "r1/1/a.png");
        assert_eq!(v.files[0].media_type, "image/png");
        assert_eq!(v.files[0].size, 7);
        assert_eq!(day_usage(db, "t1", DAY1).await, (1, 5, 10, 17));
    }

    pub async fn record_before_events(db: &DatabaseConnection, _: &str) {
        let mut rec = record("r2", "t1", 1, 5, vec![]);
        rec.outcome = Outcome::Error;
        rec.value = None;
        rec.error = Some(ScriptError::new("TypeError", "x is not a function"));
        db::apply_record(db, &rec).await.unwrap();
        // The events consumer lags behind: its events arrive after the record.
        events(db, &[log("r2", 1, 1, "late"), result_event("r2", 1, 2)]).await;
        let v = run_view(db, "r2").await;
        assert_eq!(v.run.status, "done");
        assert_eq!(v.run.outcome.as_deref(), Some("error"));
        let error: serde_json::Value =
            serde_json::from_str(v.run.error.as_deref().unwrap()).unwrap();
        assert_eq!(error["name"], "TypeError");
        assert_eq!(v.logs.len(), 1);
        assert_eq!(v.logs[0].msg, "late");
    }

    pub async fn replays_change_nothing(db: &DatabaseConnection, _: &str) {
        let all = [
            log("r3", 1, 1, "a"),
            file_event("r3", 1, 2, file("f.txt", 3)),
            log("r3", 1, 3, "b"),
            result_event("r3", 1, 4),
        ];
        let rec = record("r3", "t1", 1, 5, vec![file("f.txt", 3)]);
        for round in 0..3 {
            events(db, &all).await;
            let applied = db::apply_record(db, &rec).await.unwrap();
            let expected = if round == 0 {
                Applied::New
            } else {
                Applied::Duplicate
            };
            assert_eq!(applied, expected);
        }
        let v = run_view(db, "r3").await;
        assert_eq!(v.logs.len(), 2);
        assert_eq!((v.run.excerpt_lines, v.run.excerpt_bytes), (2, 2));
        assert_eq!(v.files.len(), 1);
        assert_eq!(day_usage(db, "t1", DAY1).await, (1, 5, 10, 13));
    }

    pub async fn later_attempt_wins(db: &DatabaseConnection, _: &str) {
        events(
            db,
            &[
                log("r4", 1, 1, "first try"),
                file_event("r4", 1, 2, file("one.png", 1)),
            ],
        )
        .await;
        db::apply_record(db, &record("r4", "t1", 1, 5, vec![file("one.png", 1)]))
            .await
            .unwrap();
        // The launcher died before acking: the run is redelivered as attempt 2.
        events(db, &[log("r4", 2, 1, "second try")]).await;
        let v = run_view(db, "r4").await;
        assert_eq!((v.run.status.as_str(), v.run.attempt), ("running", 2));
        assert_eq!(v.run.outcome, None);
        assert!(v.files.is_empty(), "attempt 1's files are not attempt 2's");
        // A straggler of attempt 1 changes nothing.
        events(db, &[log("r4", 1, 3, "stale")]).await;
        db::apply_record(db, &record("r4", "t1", 2, 7, vec![]))
            .await
            .unwrap();
        let v = run_view(db, "r4").await;
        assert_eq!((v.run.status.as_str(), v.run.attempt), ("done", 2));
        assert_eq!(v.run.cpu_ms, Some(7));
        let msgs: Vec<_> = v.logs.iter().map(|l| l.msg.as_str()).collect();
        assert_eq!(msgs, ["second try"]);
        // One run; both attempts' resources.
        assert_eq!(day_usage(db, "t1", DAY1).await, (1, 12, 24, 21));
    }

    pub async fn older_record_after_newer(db: &DatabaseConnection, _: &str) {
        db::apply_record(db, &record("r5", "t1", 2, 7, vec![]))
            .await
            .unwrap();
        db::apply_record(db, &record("r5", "t1", 1, 5, vec![file("x", 4)]))
            .await
            .unwrap();
        let v = run_view(db, "r5").await;
        assert_eq!((v.run.attempt, v.run.cpu_ms), (2, Some(7)));
        assert!(v.files.is_empty());
        assert_eq!(day_usage(db, "t1", DAY1).await, (1, 12, 24, 24));
    }

    pub async fn excerpt_is_bounded(db: &DatabaseConnection, _: &str) {
        let many: Vec<_> = (1..=300).map(|i| log("r6", 1, i, "line")).collect();
        events(db, &many).await;
        let v = run_view(db, "r6").await;
        assert_eq!(v.logs.len() as i64, db::EXCERPT_MAX_LINES);
        assert_eq!(v.logs.last().unwrap().seq, db::EXCERPT_MAX_LINES);
        assert!(v.run.excerpt_truncated);
        let replay = db::apply_event(db, &log("r6", 1, 5, "line")).await.unwrap();
        assert_eq!(replay, Applied::Duplicate);
        let dropped = db::apply_event(db, &log("r6", 1, 301, "line"))
            .await
            .unwrap();
        assert_eq!(dropped, Applied::New);

        // Bytes: 40 KiB lines; the second is cut at the 64 KiB mark on a
        // character boundary, the third dropped.
        let big = "é".repeat(20 * 1024);
        events(
            db,
            &[
                log("r7", 1, 1, &big),
                log("r7", 1, 2, &big),
                log("r7", 1, 3, &big),
            ],
        )
        .await;
        let v = run_view(db, "r7").await;
        assert_eq!(v.logs.len(), 2);
        let total: usize = v.logs.iter().map(|l| l.msg.len()).sum();
        assert_eq!(total as i64, db::EXCERPT_MAX_BYTES);
        assert_eq!(v.run.excerpt_bytes, db::EXCERPT_MAX_BYTES);
        assert!(v.run.excerpt_truncated);
        // A replay of the cut line changes nothing.
        events(db, &[log("r7", 1, 2, &big)]).await;
        assert_eq!(
            run_view(db, "r7").await.run.excerpt_bytes,
            db::EXCERPT_MAX_BYTES
        );
    }

    pub async fn edge_insert_in_either_order(db: &DatabaseConnection, _: &str) {
        let hash = db::sha256_hex("token-1");
        let new = |id: &str| NewRun {
            id: id.into(),
            tenant: "t1".into(),
            token_hash: Some(hash.clone()),
            submitted_ms: DAY1 - 1_000,
        };
        // Edge first, then the recorder.
        db::insert_queued_run(db, &new("e1")).await.unwrap();
        let v = run_view(db, "e1").await;
        assert_eq!((v.run.status.as_str(), v.run.attempt), ("queued", 0));
        events(db, &[log("e1", 1, 1, "hi")]).await;
        let v = run_view(db, "e1").await;
        assert_eq!((v.run.status.as_str(), v.run.attempt), ("running", 1));
        assert_eq!(v.run.token_hash.as_deref(), Some(hash.as_str()));
        assert_eq!(v.run.tenant, "t1");
        assert_eq!(v.logs.len(), 1);
        assert!(
            !db::delete_queued_run(db, "e1").await.unwrap(),
            "only queued runs go"
        );

        // The recorder first (the events beat the edge's insert), then the edge.
        db::apply_record(db, &record("e2", "t1", 1, 5, vec![]))
            .await
            .unwrap();
        db::insert_queued_run(db, &new("e2")).await.unwrap();
        let v = run_view(db, "e2").await;
        assert_eq!(v.run.status, "done");
        assert_eq!(v.run.token_hash.as_deref(), Some(hash.as_str()));

        // The edge's undo after a failed publish.
        db::insert_queued_run(db, &new("e3")).await.unwrap();
        assert!(db::delete_queued_run(db, "e3").await.unwrap());
        assert!(db::get_run(db, "e3").await.unwrap().is_none());
    }

    pub async fn usage_by_day_range(db: &DatabaseConnection, _: &str) {
        let mut a = record("u1", "t1", 1, 5, vec![]);
        a.finished_ms = DAY1;
        let mut b = record("u2", "t1", 1, 7, vec![]);
        b.finished_ms = DAY2;
        let c = record("u3", "t2", 1, 11, vec![]);
        for rec in [&a, &b, &c] {
            db::apply_record(db, rec).await.unwrap();
        }
        let (d1, d2) = (db::day_of_ms(DAY1), db::day_of_ms(DAY2));
        assert_eq!(d1, "2026-05-28");
        let rows = db::usage(db, "t1", &d1, &d2).await.unwrap();
        let days: Vec<_> = rows
            .iter()
            .map(|u| (u.day.as_str(), u.runs, u.cpu_ms))
            .collect();
        assert_eq!(days, [("2026-05-28", 1, 5), ("2026-05-29", 1, 7)]);
        assert_eq!(db::usage(db, "t1", &d2, &d2).await.unwrap().len(), 1);
        assert!(db::usage(db, "t3", &d1, &d2).await.unwrap().is_empty());
        assert_eq!(db::usage(db, "t2", &d1, &d1).await.unwrap()[0].cpu_ms, 11);
    }

    pub async fn network_use_is_kept_per_run_and_per_day(db: &DatabaseConnection, _: &str) {
        let mut a = record("n1", "t1", 1, 5, vec![]);
        a.net = moat_wire::NetUsage {
            requests: 3,
            bytes: 1000,
        };
        let mut b = record("n2", "t1", 1, 5, vec![]);
        b.net = moat_wire::NetUsage {
            requests: 2,
            bytes: 24,
        };
        for rec in [&a, &b, &a] {
            db::apply_record(db, rec).await.unwrap();
        }
        // The run keeps its own; the day adds both runs, the replay once.
        let view = run_view(db, "n1").await;
        assert_eq!((view.run.net_requests, view.run.net_bytes), (3, 1000));
        let d = db::day_of_ms(DAY1);
        let day = &db::usage(db, "t1", &d, &d).await.unwrap()[0];
        assert_eq!((day.net_requests, day.net_bytes), (5, 1024));
    }

    pub async fn tenant_network_rules(db: &DatabaseConnection, _: &str) {
        assert_eq!(db::tenant_egress(db, "t1").await.unwrap(), None);
        let rules = moat_wire::egress::EgressRules {
            only_domains: vec!["api.example".into(), "status.example".into()],
            deny_nets: vec!["192.0.2.0/24".into()],
            ..Default::default()
        };
        db::set_tenant_egress(db, "t1", &rules).await.unwrap();
        assert_eq!(
            db::tenant_egress(db, "t1").await.unwrap(),
            Some(rules.clone())
        );
        // Setting again replaces; other tenants have none; empty removes.
        let fewer = moat_wire::egress::EgressRules {
            deny_domains: vec!["evil.example".into()],
            ..Default::default()
        };
        db::set_tenant_egress(db, "t1", &fewer).await.unwrap();
        assert_eq!(db::tenant_egress(db, "t1").await.unwrap(), Some(fewer));
        assert_eq!(db::tenant_egress(db, "t2").await.unwrap(), None);
        db::set_tenant_egress(db, "t1", &Default::default())
            .await
            .unwrap();
        assert_eq!(db::tenant_egress(db, "t1").await.unwrap(), None);
    }

    pub async fn api_keys(db: &DatabaseConnection, _: &str) {
        let (row, key) = db::create_api_key(db, "t1", "free", Some("ci"))
            .await
            .unwrap();
        assert!(key.starts_with("moat_") && key.len() == 69, "{key}");
        assert_eq!(row.key_hash, db::sha256_hex(&key));
        assert!(!row.key_hash.contains(&key[5..]));
        let (other, _) = db::create_api_key(db, "t2", "pro", None).await.unwrap();
        let found = db::lookup_api_key(db, &key).await.unwrap().unwrap();
        assert_eq!(found, row);
        assert_eq!(
            db::find_api_key(db, &row.key_hash).await.unwrap(),
            Some(row.clone())
        );
        assert!(db::lookup_api_key(db, "moat_wrong")
            .await
            .unwrap()
            .is_none());
        let t1: Vec<_> = db::list_api_keys(db, Some("t1"))
            .await
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(t1, [row.id.as_str()]);
        assert_eq!(db::list_api_keys(db, None).await.unwrap().len(), 2);
        assert!(db::revoke_api_key(db, &row.id).await.unwrap());
        assert!(!db::revoke_api_key(db, &row.id).await.unwrap());
        assert!(!db::revoke_api_key(db, "key_nope").await.unwrap());
        assert!(db::lookup_api_key(db, &key).await.unwrap().is_none());
        let revoked = db::find_api_key(db, &row.key_hash).await.unwrap().unwrap();
        assert!(revoked.revoked && revoked.revoked_ms.is_some());
        assert_eq!(
            db::list_api_keys(db, Some("t2")).await.unwrap()[0].id,
            other.id
        );
    }

    pub async fn concurrent_duplicates_apply_once(db: &DatabaseConnection, _: &str) {
        // Two recorders handed the same record at once (a redelivery racing
        // a slow commit): one transaction applies it, the other sees it
        // applied.
        let rec = record("c1", "t1", 1, 5, vec![]);
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let db = db.clone();
                let rec = rec.clone();
                tokio::spawn(async move {
                    loop {
                        let txn = db.begin().await.unwrap();
                        match db::apply_record(&txn, &rec).await {
                            Ok(applied) => match txn.commit().await {
                                Ok(()) => return applied,
                                Err(_) => continue,
                            },
                            // SQLite may refuse a writer while another
                            // holds the lock: roll back and retry, as the
                            // consumer's nak would.
                            Err(_) => {
                                let _ = txn.rollback().await;
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        let mut new = 0;
        for task in tasks {
            if task.await.unwrap() == Applied::New {
                new += 1;
            }
        }
        assert_eq!(new, 1);
        assert_eq!(day_usage(db, "t1", DAY1).await, (1, 5, 10, 10));
    }
}
