//! Names resolved through a test DNS server on 127.0.0.1: each answer
//! checked in full before any connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test]
async fn a_known_name_is_reached_with_its_host_header() {
    let dns = Dns::standard().await;
    let server = Server::http(handler(echo)).await;
    let port = server.port();
    let response = fetch(
        &dns.fetcher(vec![]),
        get(&format!("http://API.test.:{port}/echo")),
    )
    .await
    .unwrap();
    assert_eq!(response.url, format!("http://api.test.:{port}/echo"));
    assert_eq!(response.remote, server.addr);
    let seen = Echoed::of(&response);
    assert_eq!(seen.header("host"), Some(format!("api.test.:{port}")));
}

#[tokio::test]
async fn a_name_resolving_to_a_refused_address_is_denied() {
    let dns = Dns::standard().await;
    let server = Server::http(handler(echo)).await;
    let url = format!("http://rebind.test:{}/", server.port());
    assert_error(
        fetch(&dns.fetcher(vec![]), get(&url)).await,
        "EGRESS_DENIED",
        "rebind.test resolves to 127.0.0.2, a loopback address",
    );
}

#[tokio::test]
async fn an_answer_mixing_allowed_and_refused_addresses_is_refused_whole() {
    let dns = Dns::standard().await;
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let server = Server::raw(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
        async {}
    })
    .await;
    let url = format!("http://mixed.test:{}/", server.port());
    assert_error(
        fetch(&dns.fetcher(vec![]), get(&url)).await,
        "EGRESS_DENIED",
        "mixed.test resolves to 127.0.0.2, a loopback address",
    );
    assert_eq!(connections.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_redirect_to_a_rebinding_name_is_denied() {
    let dns = Dns::standard().await;
    let server = Server::http(handler(|_| {
        reply(302, &[("location", "http://rebind.test/")], "")
    }))
    .await;
    let url = format!("http://api.test:{}/", server.port());
    assert_error(
        fetch(&dns.fetcher(vec![]), get(&url)).await,
        "EGRESS_DENIED",
        "rebind.test resolves to 127.0.0.2, a loopback address",
    );
}

#[tokio::test]
async fn an_unknown_name_is_enotfound() {
    let dns = Dns::standard().await;
    assert_error(
        fetch(&dns.fetcher(vec![]), get("http://nosuch.test/")).await,
        "ENOTFOUND",
        "getaddrinfo ENOTFOUND nosuch.test",
    );
}

#[tokio::test]
async fn servfail_and_truncation_are_resolver_failures() {
    let dns = Dns::standard().await;
    for (url, detail) in [
        ("http://servfail.test/", "the DNS server failed (SERVFAIL)"),
        ("http://truncated.test/", "the DNS answer was truncated"),
    ] {
        let error = fetch(&dns.fetcher(vec![]), get(url)).await.unwrap_err();
        assert_eq!(error.code(), "EAI_AGAIN", "{url}");
        assert!(
            error.to_string().ends_with(&format!("({detail})")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_answer_with_the_wrong_id_is_ignored() {
    let dns = Dns::standard().await;
    // The spoofed answer (wrong id) says 127.0.0.1; the real one 127.0.0.2.
    assert_error(
        fetch(&dns.fetcher(vec![]), get("http://spoof.test/")).await,
        "EGRESS_DENIED",
        "spoof.test resolves to 127.0.0.2, a loopback address",
    );
}

#[tokio::test]
async fn a_silent_dns_server_is_bounded_by_the_timeout() {
    let dns = Dns::standard().await;
    let mut request = get("http://silent.test/");
    request.timeout = Duration::from_millis(500);
    let started = Instant::now();
    assert_error(
        fetch(&dns.fetcher(vec![]), request).await,
        "ETIMEDOUT",
        "the request timed out after 500ms",
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}
