//! The runtime every shimai OCF agent is built on.
//!
//! An OCF resource agent is a program that Pacemaker runs with one argument,
//! the action, and a set of environment variables: the instance parameters
//! (`OCF_RESKEY_*`), the operation's meta attributes (`OCF_RESKEY_CRM_meta_*`)
//! and a few `OCF_*` and `HA_*` variables. It answers with an exit code and,
//! on failure, one `ocf-exit-reason:` line on stderr.
//!
//! This crate turns that contract into types, so that an agent is a
//! parameter table, an action table and one handler function:
//!
//! ```no_run
//! use ocf::{ActionSpec, AgentInfo, Context, ExitCode, ParamSpec, Result};
//!
//! static PARAMS: &[ParamSpec] = &[ParamSpec::new("path", "File to watch").required()];
//! static ACTIONS: &[ActionSpec] = &[
//!     ActionSpec::new("start", 20),
//!     ActionSpec::new("stop", 20),
//!     ActionSpec::new("monitor", 20).interval(10).depth(0),
//!     ActionSpec::new("validate-all", 20),
//!     ActionSpec::new("meta-data", 5),
//! ];
//! static INFO: AgentInfo = AgentInfo {
//!     name: "Watch", version: "1.0", shortdesc: "Watches a file", longdesc: "",
//!     params: PARAMS, actions: ACTIONS,
//! };
//!
//! fn handle(ctx: &Context) -> Result<ExitCode> {
//!     ctx.params.validate()?;
//!     let exists = std::path::Path::new(ctx.params.str("path")).exists();
//!     Ok(if exists { ExitCode::Success } else { ExitCode::NotRunning })
//! }
//!
//! fn main() { ocf::main(&INFO, handle) }
//! ```
//!
//! `meta-data` and `usage` are answered by the runtime from the tables; an
//! action missing from the action table gets `OCF_ERR_UNIMPLEMENTED`; a
//! returned [`OcfError`] becomes its exit code and exit reason; a panic
//! becomes `OCF_ERR_GENERIC` with a reason instead of Rust's exit 101.

#![deny(unsafe_code)]

mod action;
pub mod command;
mod env;
mod error;
mod exit;
pub mod log;
pub mod metadata;
mod params;
mod run;
mod sys;

pub use action::Action;
pub use env::OcfEnv;
pub use error::{OcfError, Result};
pub use exit::ExitCode;
pub use log::Logger;
pub use metadata::{ActionSpec, AgentInfo};
pub use params::{is_true, ParamSpec, ParamType, Params};
pub use run::{execute, main, Context, Handler};

/// The spec's rule for `OCF_CHECK_LEVEL`: an agent that does not implement
/// the requested level runs the next lower one it does implement.
pub fn effective_check_level(requested: u32, implemented: &[u32]) -> u32 {
    implemented
        .iter()
        .copied()
        .filter(|&l| l <= requested)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_level_falls_back_to_next_lower() {
        assert_eq!(effective_check_level(0, &[0, 10, 20]), 0);
        assert_eq!(effective_check_level(15, &[0, 10, 20]), 10);
        assert_eq!(effective_check_level(30, &[0, 10, 20]), 20);
        assert_eq!(effective_check_level(5, &[0, 20]), 0);
    }
}
