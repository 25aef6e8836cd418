//! The project's own source files, for the tests that read them (the layer rule, the
//! console's translation tables). Included by path: those tests need nothing else of `common`.

use std::path::{Path, PathBuf};

/// Every file under `dir` (recursively) whose name ends in `.{ext}`, sorted.
pub fn files(dir: impl AsRef<Path>, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir.as_ref(), ext, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}
