//! # strata-dump
//!
//! The background key dumper: one dump at a time, by glob pattern over all 16384 slots or
//! by one slot, from a consistent engine snapshot, written to a temporary file and renamed
//! atomically.
//!
//! - [`Dumper`]: starts dumps (one at a time), reports status, cancels.
//! - [`glob`]: Redis glob patterns without exponential backtracking (also the server's
//!   `KEYS` and `SCAN MATCH`).
//! - [`records`]: the keyspace's record format, shared with the server that writes it.
//! - [`escape`]: the `keys` format's line escaping.
//!
//! Formats: docs/dump-format.md. Embedding: `examples/embedded_dump.rs`.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod dumper;
pub mod escape;
pub mod glob;
pub mod records;

pub use dumper::{
    encode_command, tag_slot, Dumper, Format, Request, Selector, StartError, State, Status,
    TEMP_PREFIX,
};
