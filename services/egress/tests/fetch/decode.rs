//! Response bodies: decoded by their Content-Encoding, capped on the
//! decoded size, with the headers counted.

use std::io::Write;

use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;
use moat_egress::fetch::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const TEXT: &str = "moat decodes what the server compressed. ";

fn text() -> Vec<u8> {
    TEXT.repeat(200).into_bytes()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Serves `text()` encoded at /gzip, /x-gzip, /zlib, /raw-deflate, /br and
/// /zstd (not really: passed through), and corrupt gzip at /corrupt.
fn encoded(seen: Seen) -> Reply {
    let text = text();
    let (coding, body) = match seen.path.as_str() {
        "/gzip" => ("gzip", gzip(&text)),
        "/x-gzip" => ("x-gzip", gzip(&text)),
        "/zlib" => {
            let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
            e.write_all(&text).unwrap();
            ("deflate", e.finish().unwrap())
        }
        "/raw-deflate" => {
            let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
            e.write_all(&text).unwrap();
            ("deflate", e.finish().unwrap())
        }
        "/br" => ("br", brotli_stored(&text)),
        "/gzip-br" => ("gzip, br", brotli_stored(&gzip(&text))),
        "/zstd" => ("zstd", b"opaque".to_vec()),
        "/corrupt" => ("gzip", b"\x1f\x8b\x08\x00garbage garbage".to_vec()),
        _ => ("identity", text),
    };
    reply(200, &[("content-encoding", coding)], body)
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded() {
    let server = Server::http(handler(encoded)).await;
    for path in ["/gzip", "/x-gzip", "/zlib", "/raw-deflate"] {
        let response = fetch(&fetcher(), get(&server.url(path))).await.unwrap();
        assert_eq!(response.body, text(), "{path}");
        assert_eq!(header(&response, "content-encoding"), None, "{path}");
        assert_eq!(header(&response, "content-length"), None, "{path}");
    }
    let response = fetch(&fetcher(), get(&server.url("/identity")))
        .await
        .unwrap();
    assert_eq!(response.body, text());
    assert_eq!(header(&response, "content-encoding"), Some("identity"));
}

#[tokio::test]
async fn brotli_bodies_are_decoded() {
    let server = Server::http(handler(encoded)).await;
    for path in ["/br", "/gzip-br"] {
        let response = fetch(&fetcher(), get(&server.url(path))).await.unwrap();
        assert_eq!(response.body, text(), "{path}");
        assert_eq!(header(&response, "content-encoding"), None, "{path}");
    }
}

#[tokio::test]
async fn unknown_codings_are_passed_through() {
    let server = Server::http(handler(encoded)).await;
    let response = fetch(&fetcher(), get(&server.url("/zstd"))).await.unwrap();
    assert_eq!(&response.body[..], b"opaque");
    assert_eq!(header(&response, "content-encoding"), Some("zstd"));
    assert_eq!(header(&response, "content-length"), Some("6"));
}

#[tokio::test]
async fn a_corrupt_body_is_a_decoding_error() {
    let server = Server::http(handler(encoded)).await;
    let result = fetch(&fetcher(), get(&server.url("/corrupt"))).await;
    assert_error(
        result,
        "Z_DATA_ERROR",
        "the response body is not valid gzip data",
    );
}

#[tokio::test]
async fn an_endless_gzip_stream_stops_at_the_cap() {
    // gzip of zeros, forever, chunked: only the decoded cap can stop it
    // before the timeout does.
    let server = Server::raw(|mut tcp| async move {
        let mut buf = [0; 4096];
        let _ = tcp.read(&mut buf).await;
        let head =
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        if tcp.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        let zeros = vec![0; 1 << 20];
        loop {
            encoder.write_all(&zeros).unwrap();
            encoder.flush().unwrap();
            let chunk = std::mem::take(encoder.get_mut());
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if tcp.write_all(&framed).await.is_err() {
                return;
            }
        }
    })
    .await;
    let limits = Limits {
        max_response_bytes: 1 << 20,
        ..Limits::default()
    };
    // The cap, not the request's 10 s timeout (ETIMEDOUT), ends it.
    let result = fetch_limited(&fetcher(), get(&server.url("/")), &limits).await;
    assert_error(result, "EGRESS_LIMIT", "the response is over 1048576 bytes");
}

#[tokio::test]
async fn a_huge_body_is_a_limit() {
    let server = Server::raw(|mut tcp| async move {
        let mut buf = [0; 4096];
        let _ = tcp.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n";
        let _ = tcp.write_all(head.as_bytes()).await;
        let block = vec![b'x'; 64 * 1024];
        while tcp.write_all(&block).await.is_ok() {}
    })
    .await;
    let limits = Limits {
        max_response_bytes: 100_000,
        ..Limits::default()
    };
    let result = fetch_limited(&fetcher(), get(&server.url("/")), &limits).await;
    assert_error(result, "EGRESS_LIMIT", "the response is over 100000 bytes");
}

#[tokio::test]
async fn headers_count_toward_the_cap() {
    let big = "v".repeat(3000);
    let server = Server::http(handler(move |_| reply(200, &[("x-big", &big)], "small"))).await;
    let limits = Limits {
        max_response_bytes: 2000,
        ..Limits::default()
    };
    let result = fetch_limited(&fetcher(), get(&server.url("/")), &limits).await;
    assert_error(result, "EGRESS_LIMIT", "the response is over 2000 bytes");
    let limits = Limits {
        max_response_bytes: 4000,
        ..Limits::default()
    };
    let response = fetch_limited(&fetcher(), get(&server.url("/")), &limits)
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"small");
}
