//! The admin page's static files, embedded in the binary with include_dir.

use include_dir::{Dir, include_dir};

static STATIC: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// A static file and the headers it is served with.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    pub cache_control: &'static str,
    /// A strong validator: the content's hash, so a browser revalidates cheaply (304).
    pub etag: String,
}

/// Finds the file for a request path: `/` is the page, `/assets/x` is `static/assets/x`.
pub fn find(path: &str) -> Option<Asset> {
    let rel = match path {
        "/" | "/index.html" => "index.html",
        p => p.strip_prefix('/')?,
    };
    if !(rel == "index.html" || rel.starts_with("assets/")) || rel.contains("..") {
        return None;
    }
    let file = STATIC.get_file(rel)?;
    let hash = crate::crypto::sha256_hex_bytes(file.contents());
    Some(Asset {
        body: file.contents(),
        content_type: content_type(rel),
        // Names carry no version, so a new binary's files must be picked up at once: the
        // browser keeps them but asks each time, and gets a 304 while they are unchanged.
        cache_control: "no-cache",
        etag: format!("\"{}\"", &hash[..32]),
    })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_assets_with_types_and_nothing_else() {
        let page = find("/").unwrap();
        assert!(page.content_type.starts_with("text/html"));
        assert_eq!(page.cache_control, "no-cache");
        assert_eq!(page.etag.len(), 34);
        let css = find("/assets/app.css").unwrap();
        assert_ne!(css.etag, page.etag);
        let module = find("/assets/pages/dashboard.js").unwrap();
        assert!(module.content_type.starts_with("text/javascript"));
        assert!(css.content_type.starts_with("text/css"));
        assert!(find("/assets/../index.html").is_none());
        assert!(find("/nope.txt").is_none());
    }
}
