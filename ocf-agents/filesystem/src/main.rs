//! Filesystem agent (placeholder).
fn main() {}
