//! Rebuild when migrations or static files change: refinery and include_dir embed them but
//! do not tell cargo about new files.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=static");
}
