//! drbd.conf grammar (placeholder until the config work lands).
