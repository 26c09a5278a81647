//! Sorted string tables: immutable files of sorted internal keys.
//!
//! The byte layout is specified in `docs/lsm-format.md`; in short:
//!
//! ```text
//! [data block | crc]*  [filter | crc]  [index block | crc]  [footer: 56 bytes]
//!
//! footer = index_off u64 | index_len u64 | filter_off u64 | filter_len u64
//!        | entries u64 | format_version u32 | crc u32 (masked CRC-32 of bytes 0..44)
//!        | magic "STRATSST"
//! ```
//! Every block is followed by the masked CRC-32 (crc32fast) of its bytes, little-endian.
//! Index entries map the last internal key of each data block to
//! `varint offset | varint length` of that block (length without the CRC).

pub(crate) mod block;
pub(crate) mod bloom;
pub(crate) mod builder;
pub(crate) mod table;

pub(crate) const FOOTER_LEN: usize = 56;
pub(crate) const MAGIC: &[u8; 8] = b"STRATSST";
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const BLOCK_TRAILER: usize = 4;
