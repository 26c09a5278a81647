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

/// Start loading the cache line `at` begins in (nothing for an empty slice): a hint
/// that reads nothing and changes nothing.
#[inline]
pub(crate) fn prefetch_line(at: &[u8]) {
    if !at.is_empty() {
        prefetch(at.as_ptr());
    }
}

/// Start loading the cache line `at` points into: a hint that reads nothing and
/// changes nothing, for any address.
#[inline]
pub(crate) fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing into the
    // program, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
