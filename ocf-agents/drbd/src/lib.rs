//! `ocf:shimai:drbd`: shimai's replicated device as a Pacemaker promotable clone, with the
//! parameters, actions, promotion scores and exit codes of drbd-utils 9.22's
//! `ocf:linbit:drbd`, so that a CIB moves over by changing only the provider.
//!
//! Where the linbit agent forks `drbdadm` and `drbdsetup` several times per monitor, this
//! one sends a single `status` request over shimaid's control socket ([`daemon`]) and forks
//! `crm_attribute` only when the promotion score changes ([`attr`]). The decisions are pure
//! functions tested beside them: the score table ([`score`]), the clone checks and
//! notification lists ([`clone`]), the monitor code ([`agent::monitor_code`]).
//!
//! The same package has the fencing handlers `shimai-crm-fence-peer` and
//! `shimai-crm-unfence-peer` ([`fence`]): crm-fence-peer.9.sh's constraint and exit codes.
#![forbid(unsafe_code)]

pub mod agent;
pub mod attr;
pub mod clone;
pub mod daemon;
pub mod fence;
pub mod owner;
pub mod params;
pub mod score;
pub mod validate;
