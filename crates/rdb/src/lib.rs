//! # strata-rdb
//!
//! The Redis serialization codec: Redis values to and from the bytes real Redis writes
//! (RDB object encodings, DUMP payloads with their CRC-64/Jones footer, whole RDB files).
//! It knows nothing of storage.
//!
//! **Status: not implemented yet** (tracked by the codec issue). This crate is an empty
//! placeholder so the workspace has its final shape; it exports nothing.
