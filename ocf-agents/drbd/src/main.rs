//! `ocf:shimai:drbd` (installed as `$OCF_ROOT/resource.d/shimai/drbd`); see the library docs.
#![forbid(unsafe_code)]

fn main() {
    ocf::main(&ocf_drbd::params::INFO, ocf_drbd::agent::handle)
}
