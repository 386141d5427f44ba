//! Replication core (placeholder until the core lands).
