//! # strata-dump
//!
//! The background key dumper: one dump at a time, by glob pattern over all 16384 slots or
//! by one slot, from a consistent engine snapshot, written to a temporary file and renamed
//! atomically.
//!
//! **Status:** only [`glob`] (Redis glob patterns, shared with the server's `KEYS` and
//! `SCAN MATCH`) exists; the dumper thread is tracked by the dumper issue.

#![deny(missing_docs)]

pub mod glob;
