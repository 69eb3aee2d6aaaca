//! Content decoding under the byte cap: gzip (and `x-gzip`), deflate
//! (zlib-wrapped or raw, as servers send both) and brotli, stacked in the
//! order `Content-Encoding` lists them, fed one chunk at a time.
//!
//! The cap is enforced on the decoded bytes as each decoder writes them, so
//! a compression bomb stops within one decoder buffer of the cap and
//! memory stays bounded whatever the ratio. What this module does not do:
//! read the body (`body.rs`) or count header bytes.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};
use hyper::header::{self, HeaderMap};

/// The most codings stacked on one body that we decode; a longer list is
/// passed through undecoded, like an unknown coding.
const MAX_CODINGS: usize = 4;

/// The brotli decoder's output buffer.
const BROTLI_BUFFER: usize = 16 * 1024;

/// A content coding we decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// gzip, or its old name x-gzip.
    Gzip,
    /// deflate: zlib as the standard says, or raw deflate as some servers
    /// send.
    Deflate,
    /// brotli.
    Brotli,
}

impl Coding {
    /// The name in error messages.
    fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
        }
    }
}

/// The codings to undo, in the order they were applied, or `None` when the
/// body is to be passed through as it came: no coding, `identity`, or one
/// we do not know (the script gets the bytes and the header as sent).
pub(crate) fn codings(headers: &HeaderMap) -> Option<Vec<Coding>> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = value.to_str().ok()?;
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "identity" => {}
                "gzip" | "x-gzip" => codings.push(Coding::Gzip),
                "deflate" => codings.push(Coding::Deflate),
                "br" => codings.push(Coding::Brotli),
                _ => return None,
            }
        }
    }
    (!codings.is_empty() && codings.len() <= MAX_CODINGS).then_some(codings)
}

/// Why decoding stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The decoded body passed the cap.
    OverCap,
    /// The bytes are not valid data of this coding.
    Corrupt(&'static str),
}

/// A stack of decoders writing into a capped buffer.
pub(crate) struct Decoder {
    /// The outermost stage: the one the received bytes go into.
    head: Box<dyn Stage>,
    /// Set by the sink when the cap is passed, so a decoder's error is
    /// told apart from the cap whatever the decoder wraps it in.
    over: Arc<AtomicBool>,
    /// The outermost coding, named when its data is corrupt.
    outer: Option<Coding>,
}

impl Decoder {
    /// Undoes `codings` (as applied, first to last) into at most `cap`
    /// bytes.
    pub(crate) fn new(codings: &[Coding], cap: u64) -> Decoder {
        let over = Arc::new(AtomicBool::new(false));
        let mut head: Box<dyn Stage> = Box::new(Sink {
            out: BytesMut::new(),
            cap,
            over: over.clone(),
        });
        for coding in codings {
            head = match coding {
                Coding::Gzip => Box::new(GzDecoder::new(head)),
                Coding::Deflate => Box::new(Deflate::Sniff(Vec::new(), head)),
                Coding::Brotli => Box::new(Brotli(brotli_decompressor::DecompressorWriter::new(
                    head,
                    BROTLI_BUFFER,
                ))),
            };
        }
        Decoder {
            head,
            over,
            outer: codings.last().copied(),
        }
    }

    /// Decodes one received chunk.
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let result = self.head.write_all(chunk);
        result.map_err(|_| self.error())
    }

    /// Ends the stream (a truncated one is corrupt) and returns the body.
    pub(crate) fn finish(self) -> Result<Bytes, DecodeError> {
        let over = self.over.clone();
        let outer = self.outer;
        self.head.end().map(BytesMut::freeze).map_err(|_| {
            if over.load(Ordering::Relaxed) {
                DecodeError::OverCap
            } else {
                DecodeError::Corrupt(outer.map_or("identity", Coding::name))
            }
        })
    }

    /// Classifies a failed write.
    fn error(&self) -> DecodeError {
        if self.over.load(Ordering::Relaxed) {
            DecodeError::OverCap
        } else {
            DecodeError::Corrupt(self.outer.map_or("identity", Coding::name))
        }
    }
}

/// One decoder in the stack (or the sink at its bottom).
trait Stage: Write + Send {
    /// Ends this stage and every stage below it, returning the decoded body.
    fn end(self: Box<Self>) -> io::Result<BytesMut>;
}

/// The bottom of the stack: the decoded body, refusing to grow past the
/// cap.
struct Sink {
    out: BytesMut,
    cap: u64,
    over: Arc<AtomicBool>,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // The cap is checked before the bytes are kept: a decoder never
        // gets to hand us more than one buffer past it.
        if (self.out.len() + data.len()) as u64 > self.cap {
            self.over.store(true, Ordering::Relaxed);
            return Err(io::Error::other("over the response cap"));
        }
        self.out.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stage for Sink {
    fn end(self: Box<Self>) -> io::Result<BytesMut> {
        Ok(self.out)
    }
}

impl Stage for GzDecoder<Box<dyn Stage>> {
    fn end(self: Box<Self>) -> io::Result<BytesMut> {
        (*self).finish()?.end()
    }
}

/// deflate, before and after its first two bytes tell zlib from raw.
enum Deflate {
    /// Fewer than two bytes seen.
    Sniff(Vec<u8>, Box<dyn Stage>),
    /// A zlib stream (RFC 1950), as the HTTP standard says.
    Zlib(ZlibDecoder<Box<dyn Stage>>),
    /// Raw deflate (RFC 1951), as some servers send.
    Raw(DeflateDecoder<Box<dyn Stage>>),
    /// Only while switching from `Sniff`.
    Switching,
}

impl Deflate {
    /// Chooses the decoder once two bytes are known, feeding it those.
    fn choose(&mut self) -> io::Result<()> {
        let Deflate::Sniff(seen, inner) = std::mem::replace(self, Deflate::Switching) else {
            return Ok(());
        };
        *self = if is_zlib_header(&seen) {
            Deflate::Zlib(ZlibDecoder::new(inner))
        } else {
            Deflate::Raw(DeflateDecoder::new(inner))
        };
        self.write_all(&seen)
    }
}

/// A zlib header: compression method 8, a window of at most 32 KiB, and
/// the check bits making the pair a multiple of 31.
fn is_zlib_header(seen: &[u8]) -> bool {
    match seen {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

impl Write for Deflate {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Deflate::Sniff(seen, _) => {
                let take = data.len().min(2 - seen.len());
                seen.extend_from_slice(&data[..take]);
                if seen.len() == 2 {
                    self.choose()?;
                }
                Ok(take)
            }
            Deflate::Zlib(decoder) => decoder.write(data),
            Deflate::Raw(decoder) => decoder.write(data),
            Deflate::Switching => Err(io::Error::other("deflate decoder failed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Deflate::Zlib(decoder) => decoder.flush(),
            Deflate::Raw(decoder) => decoder.flush(),
            Deflate::Sniff(..) | Deflate::Switching => Ok(()),
        }
    }
}

impl Stage for Deflate {
    fn end(mut self: Box<Self>) -> io::Result<BytesMut> {
        if matches!(&*self, Deflate::Sniff(seen, _) if !seen.is_empty()) {
            self.choose()?;
        }
        match *self {
            // Not one byte came: an empty body.
            Deflate::Sniff(_, inner) => inner.end(),
            Deflate::Zlib(decoder) => decoder.finish()?.end(),
            Deflate::Raw(decoder) => decoder.finish()?.end(),
            Deflate::Switching => Err(io::Error::other("deflate decoder failed")),
        }
    }
}

/// brotli, with its writer's `close` as the end of stream.
struct Brotli(brotli_decompressor::DecompressorWriter<Box<dyn Stage>>);

impl Write for Brotli {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Stage for Brotli {
    fn end(self: Box<Self>) -> io::Result<BytesMut> {
        let mut writer = self.0;
        writer.close()?;
        match writer.into_inner() {
            Ok(inner) => inner.end(),
            Err(_) => Err(io::Error::other("brotli stream is not complete")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use hyper::header::HeaderValue;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(
        codings: &[Coding],
        cap: u64,
        data: &[u8],
        chunk: usize,
    ) -> Result<Bytes, DecodeError> {
        let mut decoder = Decoder::new(codings, cap);
        for piece in data.chunks(chunk.max(1)) {
            decoder.write(piece)?;
        }
        decoder.finish()
    }

    fn header(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append(header::CONTENT_ENCODING, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn content_encoding_lists_are_read_in_order() {
        assert_eq!(codings(&HeaderMap::new()), None);
        assert_eq!(codings(&header("identity")), None);
        assert_eq!(codings(&header("GZIP")), Some(vec![Coding::Gzip]));
        assert_eq!(
            codings(&header("deflate, br")),
            Some(vec![Coding::Deflate, Coding::Brotli])
        );
        assert_eq!(codings(&header("x-gzip")), Some(vec![Coding::Gzip]));
        assert_eq!(codings(&header("gzip, zstd")), None);
        assert_eq!(codings(&header("gzip,gzip,gzip,gzip,gzip")), None);
    }

    #[test]
    fn every_coding_decodes_in_small_chunks() {
        let text = b"hello, hello, hello, moat".repeat(100);
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&text).unwrap();
        let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&text).unwrap();
        for (coding, data) in [
            (Coding::Gzip, gzip(&text)),
            (Coding::Deflate, zlib.finish().unwrap()),
            (Coding::Deflate, raw.finish().unwrap()),
        ] {
            for chunk in [1, 3, 1000] {
                assert_eq!(decode(&[coding], 1 << 20, &data, chunk).unwrap(), text[..]);
            }
        }
    }

    #[test]
    fn stacked_codings_are_undone_last_first() {
        let text = b"stacked".repeat(50);
        let twice = gzip(&gzip(&text));
        assert_eq!(
            decode(&[Coding::Gzip, Coding::Gzip], 1 << 20, &twice, 7).unwrap(),
            text[..]
        );
    }

    #[test]
    fn a_bomb_stops_at_the_cap() {
        let bomb = gzip(&vec![0; 16 << 20]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            decode(&[Coding::Gzip], 1 << 20, &bomb, 4096),
            Err(DecodeError::OverCap)
        );
        let text = vec![b'a'; 1000];
        assert_eq!(decode(&[], 999, &text, 100), Err(DecodeError::OverCap));
        assert_eq!(decode(&[], 1000, &text, 100).unwrap().len(), 1000);
    }

    #[test]
    fn corrupt_and_truncated_data_are_errors() {
        assert_eq!(
            decode(&[Coding::Gzip], 1 << 20, b"not gzip at all", 4),
            Err(DecodeError::Corrupt("gzip"))
        );
        let data = gzip(&b"truncated".repeat(100));
        assert_eq!(
            decode(&[Coding::Gzip], 1 << 20, &data[..data.len() - 4], 4),
            Err(DecodeError::Corrupt("gzip"))
        );
        assert_eq!(
            decode(&[Coding::Brotli], 1 << 20, b"\xff\xff\xff\xff", 4),
            Err(DecodeError::Corrupt("br"))
        );
    }

    #[test]
    fn an_empty_body_decodes_to_nothing_only_when_it_may() {
        assert_eq!(decode(&[Coding::Deflate], 10, b"", 1).unwrap(), b""[..]);
        assert_eq!(decode(&[], 10, b"", 1).unwrap(), b""[..]);
    }

    #[test]
    fn zlib_headers_are_told_from_raw_deflate() {
        assert!(is_zlib_header(&[0x78, 0x9c]));
        assert!(is_zlib_header(&[0x78, 0x01]));
        assert!(!is_zlib_header(&[0x78, 0x00]));
        assert!(!is_zlib_header(&[0xcb, 0x48]));
        assert!(!is_zlib_header(&[0x78]));
    }
}
