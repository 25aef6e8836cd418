//! A request's body, checked as UTF-8 once when it arrives: the routing read and a translator
//! both read it as text, and checking it again cost about 3 500 instructions for a 10 kB
//! conversation (`benches/instructions.sh --form chat`). The bytes sent upstream share its
//! memory.

use std::sync::Arc;

use bytes::Bytes;

pub struct RequestBody {
    text: Arc<String>,
    bytes: Bytes,
}

/// The text, as the owner of the bytes that go upstream.
struct Shared(Arc<String>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl RequestBody {
    pub fn new(text: String) -> RequestBody {
        let text = Arc::new(text);
        let bytes = Bytes::from_owner(Shared(text.clone()));
        RequestBody { text, bytes }
    }

    /// The body as it came, refused when it is not UTF-8 (with where it stops being so).
    pub fn from_bytes(bytes: Bytes) -> Result<RequestBody, String> {
        String::from_utf8(Vec::from(bytes))
            .map(RequestBody::new)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_are_the_text_and_share_its_memory() {
        let b = RequestBody::from_bytes(Bytes::from_static("{\"a\":\"é\"}".as_bytes())).unwrap();
        assert_eq!(b.text(), "{\"a\":\"é\"}");
        assert_eq!(b.bytes().as_ref(), b.text().as_bytes());
        assert_eq!(b.bytes().as_ptr(), b.text().as_ptr());
        let e = RequestBody::from_bytes(Bytes::from_static(b"{\"a\":\"\xff\"}"))
            .err()
            .unwrap();
        assert_eq!(e, "invalid UTF-8 at byte 6");
    }
}
