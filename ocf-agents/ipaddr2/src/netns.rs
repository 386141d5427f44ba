//! `network_namespace`: the agent moves itself into the named namespace with
//! setns(2) instead of re-executing under `ip netns exec`.
#![forbid(unsafe_code)]

use nix::sched::{setns, CloneFlags};

use crate::error::Error;

/// Enters `/run/netns/<name>`, the namespaces `ip netns add` creates.
/// Must run before any thread is started: setns affects the calling thread only.
pub fn enter(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::Namespace(format!(
            "network_namespace [{name}] is not a namespace name (as listed by `ip netns list`)"
        )));
    }
    let path = format!("/run/netns/{name}");
    let f = std::fs::File::open(&path).map_err(|e| {
        Error::Namespace(format!(
            "Cannot open network namespace \"{name}\" ({path}): {e}; create it with `ip netns add {name}`"
        ))
    })?;
    setns(f, CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::Namespace(format!(
            "setns into network namespace \"{name}\" failed: {e}"
        ))
    })
}
