//! Following one run's events over the edge's WebSocket to its result, as
//! a client does (shared by the benches that time whole runs).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use moat_testkit::http::connect_from;

/// The run's result event, and when its first event arrived, both timed
/// from `t` (the submit): follows `events` (the submit's `events_url`) as
/// the holder of `key` (anonymous without), 120 s at most.
pub async fn result_event(
    server: SocketAddr,
    key: Option<&str>,
    events: &str,
    t: Instant,
) -> Option<(Duration, serde_json::Value)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{server}{events}")
        .into_client_request()
        .ok()?;
    // As the tenant, not as an anonymous address: the stream counts
    // against the tenant's limits, like its submits.
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().ok()?);
    }
    // Over the streams-per-client cap (429) a client waits and tries again:
    // its run is queued either way, and abandoning it would leave it to run
    // unwatched, holding a slot.
    let mut ws = None;
    for _ in 0..400 {
        let stream = connect_from(server, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .await
            .map_err(|e| eprintln!("connecting for events: {e}"))
            .ok()?;
        match tokio_tungstenite::client_async(request.clone(), stream).await {
            Ok((socket, _)) => {
                ws = Some(socket);
                break;
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 429 => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => {
                eprintln!("opening the event stream: {e}");
                return None;
            }
        }
    }
    let mut ws = ws?;
    let mut first = None;
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(Ok(msg)) = ws.next().await {
            let Ok(text) = msg.to_text() else { continue };
            first.get_or_insert_with(|| t.elapsed());
            if text.contains("\"t\":\"result\"") {
                let event: serde_json::Value = serde_json::from_str(text).ok()?;
                return Some((first.unwrap_or_default(), event));
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
