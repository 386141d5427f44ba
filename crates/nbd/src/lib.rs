//! NBD codec (placeholder until the codec lands).
