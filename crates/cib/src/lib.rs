//! haresources2cib (placeholder until the converter lands).
