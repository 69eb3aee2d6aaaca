//! The S3 object store against a real S3-compatible server on loopback:
//! moto's server mode (PyPI `moto[server]`, installed by `scripts/deps.sh`),
//! one fresh server per test on a port it picks itself, killed when the test
//! ends. A machine without moto fails these tests; it does not skip them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Once;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moat_store::{open_store, KeyError, ObjectStore, StoreConfig, StoreError};

/// How long moto may take to start (importing it takes about half a second
/// on an idle machine; tests start several at once on two cores).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto server, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts moto on 127.0.0.1 with port 0, reads the port it reports, and
    /// waits until it answers HTTP. Panics, with moto's output, if it cannot.
    fn start() -> Moto {
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run python3 for moto: run scripts/deps.sh");
        // Werkzeug reports the bound address on stderr; the thread keeps
        // draining stderr afterwards (moto logs every request there), so the
        // pipe never fills and blocks the server.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        let endpoint = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(at) = line.find("Running on http://127.0.0.1:") {
                        break line[at + "Running on ".len()..].trim().to_owned();
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "moto did not start (exit: {status:?}); is `moto[server]` installed? \
                         run scripts/deps.sh. its output:\n{}",
                        seen.join("\n")
                    );
                }
            }
        };
        let moto = Moto { child, endpoint };
        moto.wait_until_it_answers(deadline);
        moto
    }

    fn wait_until_it_answers(&self, deadline: Instant) {
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        loop {
            if let Ok(mut stream) = TcpStream::connect(&addr) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let request =
                    format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                let mut reply = [0u8; 8];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && reply.starts_with(b"HTTP/1.")
                {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "moto at {} never answered",
                self.endpoint
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn config(&self, bucket: &str, create_bucket: bool) -> StoreConfig {
        StoreConfig::S3 {
            endpoint: Some(self.endpoint.clone()),
            bucket: bucket.to_owned(),
            region: "us-east-1".to_owned(),
            path_style: true,
            create_bucket,
        }
    }

    /// A store on a fresh bucket, created through `open_store`.
    async fn store(&self, bucket: &str) -> std::sync::Arc<dyn ObjectStore> {
        open_store(&self.config(bucket, true)).await.unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The store takes credentials from the standard AWS chain; the first link is
/// the environment. Set once, before any test builds a client, and with the
/// profile files pointed away so the machine's own `~/.aws` plays no part.
/// (moto accepts any keys.) Instance metadata is switched off so a failed
/// lookup could never reach for the network.
fn credentials_from_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, value) in [
            ("AWS_ACCESS_KEY_ID", "moat-test"),
            ("AWS_SECRET_ACCESS_KEY", "moat-test-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/moat-test/config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/moat-test/credentials",
            ),
        ] {
            std::env::set_var(name, value);
        }
        for name in [
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
        ] {
            std::env::remove_var(name);
        }
    });
}

fn start() -> Moto {
    credentials_from_env();
    Moto::start()
}

#[tokio::test]
async fn objects_round_trip_with_their_types() {
    let moto = start();
    let store = moto.store("files").await;
    assert_eq!(
        store.describe(),
        format!("s3 {} bucket files", moto.endpoint)
    );

    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain(0..=255)
        .chain((0..=255).rev())
        .collect();
    store
        .put("run-1/1/shot.png", png.clone().into(), "image/png")
        .await
        .unwrap();
    let text = "résumé: ✓\n".repeat(1000);
    store
        .put(
            "run-1/1/notes.txt",
            text.clone().into(),
            "text/plain; charset=utf-8",
        )
        .await
        .unwrap();
    store
        .put("run-1/1/empty.json", Bytes::new(), "application/json")
        .await
        .unwrap();

    let got = store
        .get("run-1/1/shot.png")
        .await
        .unwrap()
        .expect("the png");
    assert_eq!(got.data, png);
    assert_eq!(got.content_type, "image/png");
    let got = store
        .get("run-1/1/notes.txt")
        .await
        .unwrap()
        .expect("the text");
    assert_eq!(got.data, text.as_bytes());
    assert_eq!(got.content_type, "text/plain; charset=utf-8");
    let got = store
        .get("run-1/1/empty.json")
        .await
        .unwrap()
        .expect("the empty file");
    assert!(got.data.is_empty());
    assert_eq!(got.content_type, "application/json");
}

#[tokio::test]
async fn a_missing_key_is_none() {
    let moto = start();
    let store = moto.store("files").await;
    assert_eq!(store.get("run-1/1/nothing.png").await.unwrap(), None);
    store
        .put("run-1/1/a", Bytes::from_static(b"a"), "text/plain")
        .await
        .unwrap();
    // A prefix of a key is not a key.
    assert_eq!(store.get("run-1/1").await.unwrap(), None);
}

#[tokio::test]
async fn a_put_replaces_object_and_type() {
    let moto = start();
    let store = moto.store("files").await;
    store
        .put("run-1/1/out", Bytes::from_static(b"{}"), "application/json")
        .await
        .unwrap();
    store
        .put("run-1/1/out", Bytes::from_static(b"plain"), "text/plain")
        .await
        .unwrap();
    let got = store.get("run-1/1/out").await.unwrap().unwrap();
    assert_eq!(got.data, &b"plain"[..]);
    assert_eq!(got.content_type, "text/plain");
}

#[tokio::test]
async fn bad_keys_are_refused() {
    let moto = start();
    let store = moto.store("files").await;
    for (key, reason) in [
        ("../escaped", KeyError::DotSegment),
        ("/run-1/1/x", KeyError::Absolute),
        ("run-1//x", KeyError::EmptySegment),
        ("run-1/1/a\\b", KeyError::Backslash),
        ("run-1/1/a\nb", KeyError::Control),
        ("", KeyError::Empty),
    ] {
        match store.put(key, Bytes::from_static(b"x"), "text/plain").await {
            Err(StoreError::BadKey { reason: got, .. }) => assert_eq!(got, reason, "{key:?}"),
            other => panic!("put {key:?}: {other:?}"),
        }
        match store.get(key).await {
            Err(StoreError::BadKey { reason: got, .. }) => assert_eq!(got, reason, "{key:?}"),
            other => panic!("get {key:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn opening_twice_with_create_bucket_keeps_the_objects() {
    let moto = start();
    let first = moto.store("kept").await;
    first
        .put("run-1/1/a", Bytes::from_static(b"a"), "text/plain")
        .await
        .unwrap();
    let second = moto.store("kept").await;
    let got = second.get("run-1/1/a").await.unwrap().unwrap();
    assert_eq!(got.data, &b"a"[..]);
}

#[tokio::test]
async fn a_missing_bucket_is_an_error_not_an_empty_store() {
    let moto = start();
    // Without create_bucket, opening sends nothing and succeeds...
    let store = open_store(&moto.config("absent", false)).await.unwrap();
    // ...and the missing bucket shows at the first request, as an error:
    // a get must not pass it off as a missing key.
    let err = store
        .put("run-1/1/a", Bytes::from_static(b"a"), "text/plain")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::S3 { op: "put", .. }), "{err}");
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    let err = store.get("run-1/1/a").await.unwrap_err();
    assert!(matches!(err, StoreError::S3 { op: "get", .. }), "{err}");
    assert!(!err.is_bad_request());
}
