//! Reading a request body under a size cap and a deadline, chunked or not.
//! The cap is checked as the chunks arrive, so an oversized body is refused
//! the moment it passes the cap, having buffered at most the cap plus one
//! chunk, and nothing more is read (the connection is then closed, see
//! [`crate::server`]). A body that takes longer than the deadline is refused
//! too, whatever its size: a client trickling bytes cannot hold the request
//! open. This module reads and refuses; it does not parse.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// It passed the cap (or said it would, in `Content-Length`).
    #[error("the body is over {0} bytes")]
    TooLarge(u64),
    /// It did not arrive in time.
    #[error("the body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The connection failed while reading it.
    #[error("reading the body: {0}")]
    Read(String),
}

/// Reads `body` whole, refusing it once it passes `max` bytes or once
/// `timeout` has passed. `declared` (the `Content-Length`) over `max` is
/// refused before anything is read.
pub async fn read_limited<S, B, E>(
    body: S,
    declared: Option<u64>,
    max: u64,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, E>>,
    B: Buf,
    E: std::fmt::Display,
{
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    let read = async {
        let mut body = std::pin::pin!(body);
        let mut buf = BytesMut::new();
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|e| BodyError::Read(e.to_string()))?;
            if (buf.len() + chunk.remaining()) as u64 > max {
                return Err(BodyError::TooLarge(max));
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                buf.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::TimedOut(timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn chunks(n: usize, size: usize) -> impl Stream<Item = Result<Bytes, String>> {
        futures::stream::iter((0..n).map(move |_| Ok(Bytes::from(vec![b'x'; size]))))
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let body = read_limited(chunks(4, 100), None, 400, Duration::from_secs(1)).await;
        assert_eq!(body.unwrap().len(), 400);
        let empty = read_limited(chunks(0, 1), Some(0), 400, Duration::from_secs(1)).await;
        assert!(empty.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reading_stops_at_the_first_chunk_past_the_cap() {
        let taken = AtomicUsize::new(0);
        // An endless body: only the chunks up to the cap are ever pulled.
        let endless = futures::stream::repeat_with(|| {
            taken.fetch_add(1, Ordering::Relaxed);
            Ok::<_, String>(Bytes::from_static(&[b'x'; 1000]))
        });
        let e = read_limited(endless, None, 10_000, Duration::from_secs(1)).await;
        assert_eq!(e, Err(BodyError::TooLarge(10_000)));
        assert_eq!(taken.load(Ordering::Relaxed), 11);
        // A declared length over the cap is refused before reading at all.
        let e = read_limited(chunks(1, 1), Some(10_001), 10_000, Duration::from_secs(1)).await;
        assert_eq!(e, Err(BodyError::TooLarge(10_000)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_times_out() {
        let stalled = chunks(1, 10).chain(futures::stream::pending());
        let e = read_limited(stalled, Some(100), 1000, Duration::from_secs(15)).await;
        assert_eq!(e, Err(BodyError::TimedOut(Duration::from_secs(15))));
        let broken = futures::stream::iter([Err::<Bytes, _>("reset".to_owned())]);
        let e = read_limited(broken, None, 1000, Duration::from_secs(1)).await;
        assert!(matches!(e, Err(BodyError::Read(m)) if m.contains("reset")));
    }
}
