//! `shimai-crm-unfence-peer`: the `unfence-peer` (or `after-resync-target`) handler that
//! removes the constraint `shimai-crm-fence-peer` placed (see `ocf_drbd::fence`). Options
//! of crm-unfence-peer.9.sh are accepted and ignored.
#![forbid(unsafe_code)]

use ocf_drbd::fence::{self, HandlerEnv};

fn main() {
    let rc = match HandlerEnv::from_process().and_then(|h| fence::unfence(&h)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("shimai-crm-unfence-peer: {e}");
            1
        }
    };
    std::process::exit(rc)
}
