//! ocf:shimai:drbd (being built).
fn main() {
    std::process::exit(3);
}
