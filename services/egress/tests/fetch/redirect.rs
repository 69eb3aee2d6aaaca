//! Redirects: followed under the full policy each hop, with the fetch
//! standard's method, body and credential rules; manual and error modes;
//! the redirect cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use moat_egress::fetch::{Fetcher, Limits, Redirect, Resolver};
use url::Url;

use crate::support::*;

/// Echo at /echo; /redirect?status=S&to=URL redirects; /chain?n=N
/// redirects N times before echoing.
fn app(seen: Seen) -> Reply {
    let url = Url::parse(&format!("http://x{}", seen.path)).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match url.path() {
        "/redirect" => {
            let status = param("status").unwrap().parse().unwrap();
            reply(status, &[("location", &param("to").unwrap())], "moved")
        }
        "/chain" => match param("n").unwrap().parse::<u32>().unwrap() {
            0 => echo(seen),
            n => reply(302, &[("location", &format!("/chain?n={}", n - 1))], ""),
        },
        "/bare" => reply(302, &[], "no location"),
        _ => echo(seen),
    }
}

/// `/redirect?status=..&to=..` on `server`.
fn redirect_url(server: &Server, status: u16, to: &str) -> String {
    let base = server.url("/redirect");
    Url::parse_with_params(
        &base,
        &[("status", status.to_string().as_str()), ("to", to)],
    )
    .unwrap()
    .into()
}

#[tokio::test]
async fn redirects_are_followed_and_reported() {
    let server = Server::http(handler(app)).await;
    let response = fetch(&fetcher(), get(&redirect_url(&server, 302, "/echo?after")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(response.redirected);
    assert_eq!(response.url, server.url("/echo?after"));
    assert_eq!(
        Echoed::of(&response).field("path").as_deref(),
        Some("/echo?after")
    );
}

#[tokio::test]
async fn post_becomes_get_without_a_body_on_301_302_303() {
    let server = Server::http(handler(app)).await;
    for status in [301, 302, 303] {
        let mut request = with_body("POST", &redirect_url(&server, status, "/echo"), "data");
        request.headers = vec![("content-type".into(), "text/plain".into())];
        let seen = Echoed::of(&fetch(&fetcher(), request).await.unwrap());
        assert_eq!(seen.field("method").as_deref(), Some("GET"), "{status}");
        assert_eq!(seen.field("body").as_deref(), Some(""), "{status}");
        assert_eq!(seen.header("content-type"), None, "{status}");
        assert_eq!(seen.header("content-length"), None, "{status}");
    }
    let seen = Echoed::of(
        &fetch(
            &fetcher(),
            with_body("PUT", &redirect_url(&server, 303, "/echo"), "x"),
        )
        .await
        .unwrap(),
    );
    assert_eq!(seen.field("method").as_deref(), Some("GET"));
}

#[tokio::test]
async fn method_and_body_survive_307_and_308() {
    let server = Server::http(handler(app)).await;
    for status in [307, 308] {
        let request = with_body("POST", &redirect_url(&server, status, "/echo"), "data");
        let seen = Echoed::of(&fetch(&fetcher(), request).await.unwrap());
        assert_eq!(seen.field("method").as_deref(), Some("POST"), "{status}");
        assert_eq!(seen.field("body").as_deref(), Some("data"), "{status}");
        assert_eq!(
            seen.header("content-length").as_deref(),
            Some("4"),
            "{status}"
        );
    }
}

#[tokio::test]
async fn credentials_are_dropped_when_the_origin_changes() {
    let first = Server::http(handler(app)).await;
    let second = Server::http(handler(app)).await;
    let credentials = vec![
        ("Authorization".to_string(), "Bearer secret".to_string()),
        ("Cookie".to_string(), "session=1".to_string()),
        ("X-Other".to_string(), "kept".to_string()),
    ];
    let mut same = get(&redirect_url(&first, 302, "/echo"));
    same.headers = credentials.clone();
    let seen = Echoed::of(&fetch(&fetcher(), same).await.unwrap());
    assert_eq!(
        seen.header("authorization").as_deref(),
        Some("Bearer secret")
    );
    assert_eq!(seen.header("cookie").as_deref(), Some("session=1"));
    let mut cross = get(&redirect_url(&first, 307, &second.url("/echo")));
    cross.headers = credentials;
    let response = fetch(&fetcher(), cross).await.unwrap();
    assert_eq!(response.remote, second.addr);
    let seen = Echoed::of(&response);
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("cookie"), None);
    assert_eq!(seen.header("x-other").as_deref(), Some("kept"));
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_is_denied() {
    let server = Server::http(handler(app)).await;
    let port = server.port();
    for (to, message) in [
        (
            format!("http://127.0.0.2:{port}/echo"),
            "127.0.0.2 is a loopback address",
        ),
        (
            format!("http://0x7f.2:{port}/"),
            "127.0.0.2 is a loopback address",
        ),
        (format!("http://[::1]:{port}/"), "::1 is a loopback address"),
        (
            "file:///etc/passwd".to_string(),
            "the scheme file: is not allowed; use http: or https:",
        ),
        (
            "http://127.0.0.1:25/".to_string(),
            "port 25 is closed to scripts (mail)",
        ),
    ] {
        let result = fetch(&fetcher(), get(&redirect_url(&server, 302, &to))).await;
        assert_error(result, "EGRESS_DENIED", message);
    }
}

#[tokio::test]
async fn manual_mode_returns_the_redirect_itself() {
    let server = Server::http(handler(app)).await;
    let mut request = get(&redirect_url(&server, 301, "http://127.0.0.2/"));
    request.redirect = Redirect::Manual;
    let response = fetch(&fetcher(), request).await.unwrap();
    assert_eq!(
        (response.status, response.status_text.as_str()),
        (301, "Moved Permanently")
    );
    assert_eq!(header(&response, "location"), Some("http://127.0.0.2/"));
    assert_eq!(&response.body[..], b"moved");
    assert!(!response.redirected);
}

#[tokio::test]
async fn error_mode_fails_on_any_redirect() {
    let server = Server::http(handler(app)).await;
    let mut request = get(&redirect_url(&server, 302, "/echo"));
    request.redirect = Redirect::Error;
    let result = fetch(&fetcher(), request).await;
    assert_error(
        result,
        "EGRESS_REDIRECT",
        "the server redirected (302) and the request's redirect mode is \"error\"",
    );
}

#[tokio::test]
async fn a_redirect_without_a_location_is_the_response() {
    let server = Server::http(handler(app)).await;
    let response = fetch(&fetcher(), get(&server.url("/bare"))).await.unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(&response.body[..], b"no location");
}

#[tokio::test]
async fn redirects_past_the_cap_are_a_limit() {
    let server = Server::http(handler(app)).await;
    let limits = Limits {
        max_redirects: 3,
        ..Limits::default()
    };
    let response = fetch_limited(&fetcher(), get(&server.url("/chain?n=3")), &limits)
        .await
        .unwrap();
    assert_eq!(response.url, server.url("/chain?n=0"));
    let result = fetch_limited(&fetcher(), get(&server.url("/chain?n=4")), &limits).await;
    assert_error(result, "EGRESS_LIMIT", "too many redirects (more than 3)");
}

#[tokio::test]
async fn an_endless_redirect_loop_stops_at_twenty() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = Server::http(handler(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
        reply(302, &[("location", "/again")], "")
    }))
    .await;
    let result = fetch(&fetcher(), get(&server.url("/"))).await;
    assert_error(result, "EGRESS_LIMIT", "too many redirects (more than 20)");
    assert_eq!(hits.load(Ordering::Relaxed), 21);
}

#[tokio::test]
async fn every_hop_is_charged_to_its_hosts_rate() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counted = sent.clone();
    let server = Server::http(handler(move |seen| {
        counted.fetch_add(1, Ordering::SeqCst);
        app(seen)
    }))
    .await;
    let mut config = config_with(Resolver::System, Vec::new());
    // Three requests at once, then one a minute: the test cannot refill.
    config.host_rate = Some(moat_egress::host_rate::HostRateLimit {
        per_second: 1.0 / 60.0,
        burst: 3.0,
    });
    let fetcher = Fetcher::new(config).unwrap();
    // One redirect: two requests to 127.0.0.1.
    let response = fetch(&fetcher, get(&server.url("/chain?n=1")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    // The third request passes; its redirect hop would be the fourth.
    let busy = fetch(&fetcher, get(&server.url("/chain?n=1")))
        .await
        .unwrap_err();
    assert_eq!(busy.code(), "EGRESS_LIMIT");
    assert!(
        busy.to_string()
            .starts_with("moat is making too many requests to 127.0.0.1 across all runs"),
        "{busy}"
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        3,
        "the refused hop was never sent"
    );
}
