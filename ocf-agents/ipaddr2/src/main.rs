//! IPaddr2 agent (placeholder).
fn main() {}
