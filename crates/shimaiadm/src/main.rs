//! shimaiadm (being built).
fn main() {
    eprintln!("shimaiadm: not built yet");
    std::process::exit(2);
}
