//! Reading a response body to its end through the decoder, under the cap.
//!
//! What this module does not do: choose the codings (`decode.rs`) or
//! count the headers (`fetcher.rs` gives the decoder what is left).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::decode::{DecodeError, Decoder};
use super::error::FetchError;
use super::exchange::hyper_error;

/// The decoded body, or `None` when the server sent no body bytes at all
/// (a HEAD, a 204, an empty body), which is left undecoded.
///
/// `max` is the response cap, named in the error; `host` names the server
/// in TLS errors.
pub(crate) async fn read(
    mut body: Incoming,
    mut decoder: Decoder,
    max: u64,
    host: &str,
) -> Result<Option<Bytes>, FetchError> {
    let mut received = false;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| hyper_error(error, host))?;
        // Trailers are dropped: fetch() does not expose them.
        if let Ok(data) = frame.into_data() {
            received |= !data.is_empty();
            decoder.write(&data).map_err(|e| decode_error(e, max))?;
        }
    }
    if !received {
        return Ok(None);
    }
    decoder.finish().map(Some).map_err(|e| decode_error(e, max))
}

/// Maps a decoder's verdict.
fn decode_error(error: DecodeError, max: u64) -> FetchError {
    match error {
        DecodeError::OverCap => FetchError::ResponseTooLarge { max },
        DecodeError::Corrupt(coding) => FetchError::Decode { coding },
    }
}
