//! shimaid (being built): see the crate docs.
fn main() {
    eprintln!("shimaid: not built yet");
    std::process::exit(1);
}
