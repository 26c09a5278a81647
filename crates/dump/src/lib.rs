//! # strata-dump
//!
//! The background key dumper: one dump at a time, by glob pattern over all 16384 slots or
//! by one slot, from a consistent engine snapshot, written to a temporary file and renamed
//! atomically.
//!
//! **Status: not implemented yet** (tracked by the dumper issue). This crate is an empty
//! placeholder so the workspace has its final shape; it exports nothing.
