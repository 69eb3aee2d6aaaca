//! Plain HTTP: what is sent, what comes back, and the destinations refused
//! before any connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

#[tokio::test]
async fn get_is_echoed_with_our_headers() {
    let server = Server::http(handler(echo)).await;
    let response = fetch(&fetcher(), get(&server.url("/echo?x=1#frag")))
        .await
        .unwrap();
    assert_eq!(
        (response.status, response.status_text.as_str()),
        (200, "OK")
    );
    assert_eq!(response.url, server.url("/echo?x=1"));
    assert!(!response.redirected);
    assert_eq!(response.remote, server.addr);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let seen = Echoed::of(&response);
    assert_eq!(seen.field("method").as_deref(), Some("GET"));
    assert_eq!(seen.field("path").as_deref(), Some("/echo?x=1"));
    assert_eq!(seen.field("version").as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        seen.header("host"),
        Some(format!("127.0.0.1:{}", server.port()))
    );
    assert_eq!(seen.header("user-agent").as_deref(), Some("moat-test/1"));
    assert_eq!(seen.header("accept").as_deref(), Some("*/*"));
    assert_eq!(
        seen.header("accept-encoding").as_deref(),
        Some("gzip, deflate, br")
    );
    assert_eq!(seen.header("content-length"), None);
}

#[tokio::test]
async fn post_sends_the_body_with_its_length() {
    let server = Server::http(handler(echo)).await;
    let mut request = with_body("post", &server.url("/echo"), "hello");
    request.headers = vec![("Content-Type".into(), "text/plain".into())];
    let response = fetch(&fetcher(), request).await.unwrap();
    let seen = Echoed::of(&response);
    assert_eq!(seen.field("method").as_deref(), Some("POST"));
    assert_eq!(seen.field("body").as_deref(), Some("hello"));
    assert_eq!(seen.header("content-length").as_deref(), Some("5"));
    assert_eq!(seen.header("content-type").as_deref(), Some("text/plain"));
    let empty = fetch(&fetcher(), with_body("PUT", &server.url("/echo"), ""))
        .await
        .unwrap();
    assert_eq!(
        Echoed::of(&empty).header("content-length").as_deref(),
        Some("0")
    );
}

#[tokio::test]
async fn script_headers_are_sent_and_reserved_ones_dropped() {
    let server = Server::http(handler(echo)).await;
    let mut request = get(&server.url("/echo"));
    request.headers = [
        ("User-Agent", "my-script/2"),
        ("X-Custom", "a"),
        ("x-custom", "b"),
        ("Host", "evil.example"),
        ("Connection", "close, x-custom"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "999"),
        ("Accept-Encoding", "identity"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Upgrade", "websocket"),
        ("Authorization", "Bearer token"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let seen = Echoed::of(&fetch(&fetcher(), request).await.unwrap());
    assert_eq!(seen.header("user-agent").as_deref(), Some("my-script/2"));
    assert_eq!(seen.header_all("x-custom"), ["a", "b"]);
    assert_eq!(
        seen.header("host"),
        Some(format!("127.0.0.1:{}", server.port()))
    );
    assert_eq!(
        seen.header("accept-encoding").as_deref(),
        Some("gzip, deflate, br")
    );
    assert_eq!(
        seen.header("authorization").as_deref(),
        Some("Bearer token")
    );
    for gone in [
        "transfer-encoding",
        "content-length",
        "proxy-authorization",
        "upgrade",
    ] {
        assert_eq!(seen.header(gone), None, "{gone}");
    }
    assert_ne!(
        seen.header("connection").as_deref(),
        Some("close, x-custom")
    );
}

#[tokio::test]
async fn invalid_requests_fail_before_any_connection() {
    let server = Server::http(handler(echo)).await;
    let mut request = get(&server.url("/echo"));
    request.headers = vec![("X-A".into(), "1\r\nX-Injected: yes".into())];
    let error = fetch(&fetcher(), request).await.unwrap_err();
    assert_eq!(error.code(), "ERR_INVALID_ARG_VALUE");
    let error = fetch(&fetcher(), with_body("GET", &server.url("/echo"), "x"))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "a GET request cannot have a body");
    let error = fetch(&fetcher(), with_body("CONNECT", &server.url("/"), ""))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "the method CONNECT is not allowed");
}

#[tokio::test]
async fn numeric_ipv4_forms_are_normalised_before_the_policy() {
    let server = Server::http(handler(echo)).await;
    let port = server.port();
    let response = fetch(&fetcher(), get(&format!("http://2130706433:{port}/echo")))
        .await
        .unwrap();
    assert_eq!(response.url, format!("http://127.0.0.1:{port}/echo"));
    assert_eq!(
        Echoed::of(&response).header("host"),
        Some(format!("127.0.0.1:{port}"))
    );
    for url in [
        format!("http://127.0.0.2:{port}/"),
        format!("http://2130706434:{port}/"),
        format!("http://0x7f.2:{port}/"),
        format!("http://127.2:{port}/"),
    ] {
        let result = fetch(&fetcher(), get(&url)).await;
        assert_error(result, "EGRESS_DENIED", "127.0.0.2 is a loopback address");
    }
    let result = fetch(&fetcher(), get(&format!("http://[::1]:{port}/"))).await;
    assert_error(result, "EGRESS_DENIED", "::1 is a loopback address");
    let result = fetch(
        &fetcher(),
        get(&format!("http://[::ffff:127.0.0.2]:{port}/")),
    )
    .await;
    assert_error(
        result,
        "EGRESS_DENIED",
        "::ffff:127.0.0.2 embeds 127.0.0.2, a loopback address",
    );
}

#[tokio::test]
async fn other_schemes_credentials_and_mail_ports_are_refused() {
    let server = Server::http(handler(echo)).await;
    let cases = [
        (
            "file:///etc/passwd".to_string(),
            "the scheme file: is not allowed; use http: or https:",
        ),
        (
            format!("http://user:pw@127.0.0.1:{}/", server.port()),
            "URLs with credentials (user:password@) are not allowed",
        ),
        (
            "http://127.0.0.1:25/".to_string(),
            "port 25 is closed to scripts (mail)",
        ),
    ];
    for (url, message) in cases {
        assert_error(fetch(&fetcher(), get(&url)).await, "EGRESS_DENIED", message);
    }
}

#[tokio::test]
async fn a_closed_port_is_econnrefused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let result = fetch(&fetcher(), get(&format!("http://{addr}/"))).await;
    assert_error(
        result,
        "ECONNREFUSED",
        &format!("connect ECONNREFUSED {addr}"),
    );
}

#[tokio::test]
async fn reason_phrases_and_latin1_headers_come_through() {
    let server = Server::raw(|mut tcp| async move {
        let mut buf = [0; 4096];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp
            .write_all(b"HTTP/1.1 299 Fine Thanks\r\nX-A: caf\xe9\r\nContent-Length: 2\r\n\r\nok")
            .await;
    })
    .await;
    let response = fetch(&fetcher(), get(&server.url("/"))).await.unwrap();
    assert_eq!(
        (response.status, response.status_text.as_str()),
        (299, "Fine Thanks")
    );
    assert_eq!(header(&response, "x-a"), Some("caf\u{e9}"));
    assert_eq!(header(&response, "content-length"), Some("2"));
    assert_eq!(&response.body[..], b"ok");
}

#[tokio::test]
async fn head_and_no_content_responses_have_empty_bodies() {
    let server = Server::http(handler(|seen| {
        if seen.method == "HEAD" {
            reply(200, &[("content-encoding", "gzip")], "")
        } else {
            reply(204, &[], "")
        }
    }))
    .await;
    let mut head = get(&server.url("/"));
    head.method = "head".into();
    let response = fetch(&fetcher(), head).await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body.is_empty());
    assert_eq!(header(&response, "content-encoding"), Some("gzip"));
    let response = fetch(&fetcher(), get(&server.url("/"))).await.unwrap();
    assert_eq!(
        (response.status, response.status_text.as_str()),
        (204, "No Content")
    );
}

#[tokio::test]
async fn each_request_has_its_own_connection_and_no_cookie_jar() {
    let server = Server::http(handler(|seen| {
        let mut response = echo(seen);
        let cookie = "session=1".parse().unwrap();
        response.headers_mut().insert("set-cookie", cookie);
        response
    }))
    .await;
    let fetcher = fetcher();
    let first = fetch(&fetcher, get(&server.url("/echo"))).await.unwrap();
    assert_eq!(header(&first, "set-cookie"), Some("session=1"));
    let second = fetch(&fetcher, get(&server.url("/echo"))).await.unwrap();
    let (first, second) = (Echoed::of(&first), Echoed::of(&second));
    assert_eq!(second.header("cookie"), None);
    assert_ne!(first.field("peer"), second.field("peer"));
}

#[tokio::test]
async fn a_run_policy_replaces_the_operators() {
    let server = Server::http(handler(echo)).await;
    let fetcher = fetcher();
    let narrowed = moat_egress::policy::Policy::default();
    let request = get(&server.url("/echo"));
    let limits = moat_egress::fetch::Limits::default();
    let result = fetcher.fetch_under(&narrowed, request, &limits).await;
    assert_error(result, "EGRESS_DENIED", "127.0.0.1 is a loopback address");
    assert_eq!(fetcher.policy(), &policy());
}
