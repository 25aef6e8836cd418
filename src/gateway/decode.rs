//! Undoing a compressed upstream answer. The gateway asks for `identity`, but some relays
//! compress anyway; usage is read from the plain bytes, so those are what the client gets too.

use std::io::{Read, Write};

use bytes::Bytes;
use flate2::read::{GzDecoder as GzReader, ZlibDecoder as ZlibReader};
use flate2::write::{GzDecoder, ZlibDecoder};
use http::{HeaderMap, header};

use super::failure::UpstreamError;

/// How an answer's body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// HTTP's `deflate` is zlib-wrapped deflate.
    Deflate,
}

/// The answer's `content-encoding`, or why the gateway cannot read it.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, UpstreamError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
        Ok(v) if v.is_empty() || v == "identity" => Ok(Encoding::Identity),
        Ok(v) if v == "gzip" || v == "x-gzip" => Ok(Encoding::Gzip),
        Ok(v) if v == "deflate" => Ok(Encoding::Deflate),
        Ok(v) => Err(UpstreamError::Undecodable(format!(
            "upstream answered with content-encoding {v:?}, which the gateway cannot read"
        ))),
        Err(_) => Err(UpstreamError::Undecodable(
            "upstream answered with an unreadable content-encoding".into(),
        )),
    }
}

/// Decodes a whole body, refusing to expand past `max` bytes (a compression bomb).
pub fn decode_all(encoding: Encoding, data: Bytes, max: usize) -> Result<Bytes, UpstreamError> {
    let reader: Box<dyn Read> = match encoding {
        Encoding::Identity => return Ok(data),
        Encoding::Gzip => Box::new(GzReader::new(&data[..])),
        Encoding::Deflate => Box::new(ZlibReader::new(&data[..])),
    };
    let mut out = Vec::new();
    let read = reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            UpstreamError::Undecodable(format!("upstream sent a corrupt {encoding:?} body: {e}"))
        })?;
    if read > max {
        return Err(UpstreamError::Broken(format!(
            "upstream response larger than {max} bytes once decompressed"
        )));
    }
    Ok(Bytes::from(out))
}

/// The most plain bytes one compressed stream frame may expand to: far more than any SSE
/// frame, far less than a bomb can make of a few kilobytes.
pub const MAX_FRAME_EXPANSION: usize = 8 * 1024 * 1024;

/// Decodes a stream frame by frame, handing on whatever each frame completes.
pub enum StreamDecoder {
    Gzip(GzDecoder<Capped>),
    Deflate(ZlibDecoder<Capped>),
}

/// A buffer that refuses to grow past its cap: a frame expanding too far is an error, not
/// memory.
pub struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.max {
            return Err(std::io::Error::other(format!(
                "one frame expands past {} bytes",
                self.max
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl StreamDecoder {
    pub fn new(encoding: Encoding) -> Option<StreamDecoder> {
        let out = || Capped {
            buf: Vec::new(),
            max: MAX_FRAME_EXPANSION,
        };
        match encoding {
            Encoding::Identity => None,
            Encoding::Gzip => Some(StreamDecoder::Gzip(GzDecoder::new(out()))),
            Encoding::Deflate => Some(StreamDecoder::Deflate(ZlibDecoder::new(out()))),
        }
    }

    /// The plain bytes `data` completes (possibly none yet).
    pub fn feed(&mut self, data: &[u8]) -> Result<Bytes, UpstreamError> {
        // The decoders hold output back until flushed; each frame's share is wanted now.
        let out = match self {
            StreamDecoder::Gzip(d) => d
                .write_all(data)
                .and_then(|_| d.flush())
                .map(|_| d.get_mut()),
            StreamDecoder::Deflate(d) => d
                .write_all(data)
                .and_then(|_| d.flush())
                .map(|_| d.get_mut()),
        }
        .map_err(|e| {
            UpstreamError::Undecodable(format!(
                "upstream sent a corrupt or oversized compressed stream: {e}"
            ))
        })?;
        Ok(Bytes::from(std::mem::take(&mut out.buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn whole_bodies_and_streams_decode_and_bombs_are_refused() {
        let plain = b"event: message_stop\ndata: {}\n\n".repeat(100);
        let packed = gzip(&plain);
        assert_eq!(
            decode_all(Encoding::Gzip, Bytes::from(packed.clone()), 1 << 20).unwrap(),
            Bytes::from(plain.clone())
        );
        assert!(decode_all(Encoding::Gzip, Bytes::from(packed.clone()), 100).is_err());
        assert!(decode_all(Encoding::Gzip, Bytes::from_static(b"not gzip"), 100).is_err());
        // Split anywhere, a stream gives the same bytes.
        let mut d = StreamDecoder::new(Encoding::Gzip).unwrap();
        let mut out = Vec::new();
        for chunk in packed.chunks(7) {
            out.extend_from_slice(&d.feed(chunk).unwrap());
        }
        assert_eq!(out, plain);
        let mut h = HeaderMap::new();
        assert_eq!(encoding(&h), Ok(Encoding::Identity));
        h.insert(header::CONTENT_ENCODING, "GZIP".parse().unwrap());
        assert_eq!(encoding(&h), Ok(Encoding::Gzip));
        h.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert!(encoding(&h).is_err());
    }

    #[test]
    fn a_stream_frame_may_not_expand_without_bound() {
        let bomb = gzip(&vec![b'a'; 4 * MAX_FRAME_EXPANSION]);
        assert!(bomb.len() < 100_000, "a few kilobytes");
        let mut d = StreamDecoder::new(Encoding::Gzip).unwrap();
        assert!(d.feed(&bomb).is_err());
        let mut d = StreamDecoder::new(Encoding::Gzip).unwrap();
        let ok = gzip(b"data: {}\n\n");
        assert_eq!(&d.feed(&ok).unwrap()[..], b"data: {}\n\n");
    }
}
