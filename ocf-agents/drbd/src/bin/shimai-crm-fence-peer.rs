//! `shimai-crm-fence-peer`: the `fence-peer` handler for a Pacemaker cluster (see
//! `ocf_drbd::fence`). Options of crm-fence-peer.9.sh (`--timeout`, `--dc-timeout`...) are
//! accepted and ignored: the answer comes from one read of the CIB.
#![forbid(unsafe_code)]

use ocf_drbd::fence::{self, code, HandlerEnv};

fn main() {
    let rc = HandlerEnv::from_process()
        .and_then(|h| fence::fence(&h))
        .unwrap_or_else(|e| {
            eprintln!("shimai-crm-fence-peer: {e}");
            code::FAILED
        });
    std::process::exit(rc)
}
