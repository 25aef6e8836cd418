//! The admin page's static files, embedded in the binary with include_dir.

use include_dir::{Dir, include_dir};

static STATIC: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// A static file and the headers it is served with.
pub struct Asset {
    pub body: &'static [u8],
    pub content_type: &'static str,
    pub cache_control: &'static str,
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
    Some(Asset {
        body: file.contents(),
        content_type: content_type(rel),
        // The page must pick up a new binary's assets at once; assets are small.
        cache_control: if rel == "index.html" {
            "no-cache"
        } else {
            "public, max-age=300"
        },
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
        let css = find("/assets/app.css").unwrap();
        assert!(css.content_type.starts_with("text/css"));
        assert!(find("/assets/../index.html").is_none());
        assert!(find("/nope.txt").is_none());
    }
}
