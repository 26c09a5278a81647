//! # strata-rdb
//!
//! The Redis serialization codec: Redis values to and from the bytes real Redis writes.
//! It knows nothing of storage.
//!
//! **Status.** Decoding works: [`restore`] checks a DUMP payload (length, version,
//! CRC-64/Jones) and decodes every non-stream type and encoding Redis has written since
//! 2.x, with Redis's deep validation (`sanitize-dump-payload yes`); [`RdbFile`] streams
//! whole RDB files (versions 1–12); [`dump`] writes DUMP payloads for Redis 7.0
//! (byte-identical to what Redis 7.0.15 writes), Redis 6 (`Target::Redis6`) and any
//! Redis since 2.6 (`Target::Portable`); [`RdbWriter`] writes RDB files Redis 7.0
//! loads; [`crc64`] is CRC-64/Jones. Not yet: streams.
//! Formats: `docs/rdb-format.md`.
//!
//! ```
//! let payload = b"\x00\x15hello, dumping world!\x06\x00E\xa0Z\x82\xd8r\xc1\xde";
//! let v = strata_rdb::restore(payload, strata_rdb::RDB_VERSION_7_0)?;
//! assert_eq!(v, strata_rdb::Value::String(b"hello, dumping world!".to_vec()));
//! # Ok::<(), strata_rdb::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod crc64;
mod dump;
mod encode;
mod error;
pub mod file;
#[doc(hidden)]
pub mod fuzz_support;
mod intset;
mod listpack;
mod lzf;
pub mod object;
mod rdb_writer;
mod reader;
pub mod stream;
mod value;
mod writer;
mod ziplist;
mod zipmap;

pub use crc64::crc64;
pub use dump::{
    decode_object, functions_from_payload, functions_payload, restore, restore_borrowed, verify,
    FunctionsPayloadError, Restored, RDB_VERSION_7_0,
};
pub use encode::{
    dump, encode_object, encode_object_for, EncodeConfig, PlainDump, Target, ZSetDump,
};
pub use error::{Error, Result};
pub use file::{Entry, Item, RdbFile};
pub use rdb_writer::RdbWriter;
pub use value::Value;
pub use writer::format_g17;
