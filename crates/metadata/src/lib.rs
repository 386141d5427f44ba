//! On-disk metadata (placeholder until the metadata work lands).
