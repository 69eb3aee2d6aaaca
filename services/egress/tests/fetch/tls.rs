//! HTTPS against servers holding a certificate from a test CA: h2 and
//! HTTP/1.1, SNI, and the certificate checks.

use moat_egress::fetch::load_ca_file;

use crate::support::*;

const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];
const HTTP1: &[&[u8]] = &[b"http/1.1"];

#[tokio::test]
async fn https_negotiates_h2_with_sni_for_the_name() {
    let ca = TestCa::new();
    let dns = Dns::standard().await;
    let server = Server::https(handler(echo), &ca, BOTH).await;
    let url = format!("https://api.test:{}/echo?q", server.port());
    let fetcher = dns.fetcher(vec![ca.ca.clone()]);
    let response = fetch(&fetcher, get(&url)).await.unwrap();
    assert_eq!((response.status, response.status_text.as_str()), (200, ""));
    let seen = Echoed::of(&response);
    assert_eq!(seen.field("version").as_deref(), Some("HTTP/2.0"));
    assert_eq!(seen.field("sni").as_deref(), Some("api.test"));
    assert_eq!(seen.field("path").as_deref(), Some("/echo?q"));
    assert_eq!(seen.header("user-agent").as_deref(), Some("moat-test/1"));
    let post = fetch(&fetcher, with_body("POST", &url, "over h2"))
        .await
        .unwrap();
    let seen = Echoed::of(&post);
    assert_eq!(seen.field("body").as_deref(), Some("over h2"));
    assert_eq!(seen.header("content-length").as_deref(), Some("7"));
}

#[tokio::test]
async fn https_falls_back_to_http1() {
    let ca = TestCa::new();
    let dns = Dns::standard().await;
    let server = Server::https(handler(echo), &ca, HTTP1).await;
    let url = format!("https://api.test:{}/echo", server.port());
    let response = fetch(&dns.fetcher(vec![ca.ca.clone()]), get(&url))
        .await
        .unwrap();
    assert_eq!(response.status_text, "OK");
    let seen = Echoed::of(&response);
    assert_eq!(seen.field("version").as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        seen.header("host"),
        Some(format!("api.test:{}", server.port()))
    );
}

#[tokio::test]
async fn an_ip_literal_is_verified_against_the_address_without_sni() {
    let ca = TestCa::new();
    let server = Server::https(handler(echo), &ca, BOTH).await;
    let fetcher = fetcher_with(moat_egress::fetch::Resolver::System, vec![ca.ca.clone()]);
    let url = format!("https://127.0.0.1:{}/echo", server.port());
    let seen = Echoed::of(&fetch(&fetcher, get(&url)).await.unwrap());
    assert_eq!(seen.field("sni"), None);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let ca = TestCa::new();
    let dns = Dns::standard().await;
    let server = Server::https(handler(echo), &ca, BOTH).await;
    let url = format!("https://api.test:{}/", server.port());
    assert_error(
        fetch(&dns.fetcher(vec![]), get(&url)).await,
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        "the certificate presented by api.test is not signed by a trusted authority",
    );
    // A CA of the same name with another key: found as the issuer, its
    // signature does not verify.
    let other = TestCa::new();
    let result = fetch(&dns.fetcher(vec![other.ca.clone()]), get(&url)).await;
    assert_eq!(result.unwrap_err().code(), "CERT_SIGNATURE_FAILURE");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let ca = TestCa::new();
    let dns = Dns::standard().await;
    let server = Server::https(handler(echo), &ca, BOTH).await;
    let url = format!("https://other.test:{}/", server.port());
    assert_error(
        fetch(&dns.fetcher(vec![ca.ca.clone()]), get(&url)).await,
        "ERR_TLS_CERT_ALTNAME_INVALID",
        "the certificate presented by other.test is not valid for other.test",
    );
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    let dns = Dns::standard().await;
    let server = Server::http(handler(echo)).await;
    let url = format!("https://api.test:{}/", server.port());
    let error = fetch(&dns.fetcher(vec![]), get(&url)).await.unwrap_err();
    assert_eq!(error.code(), "ERR_TLS", "{error}");
    assert!(error
        .to_string()
        .starts_with("the TLS connection to api.test failed"));
}

#[tokio::test]
async fn a_ca_file_is_read_as_a_pem_bundle() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, format!("# the test CA\n{}", ca.ca_pem)).unwrap();
    let roots = load_ca_file(&path).unwrap();
    assert_eq!(roots, vec![ca.ca.clone()]);
    let dns = Dns::standard().await;
    let server = Server::https(handler(echo), &ca, BOTH).await;
    let url = format!("https://api.test:{}/echo", server.port());
    assert_eq!(
        fetch(&dns.fetcher(roots), get(&url)).await.unwrap().status,
        200
    );
}
