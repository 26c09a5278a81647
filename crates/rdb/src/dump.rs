//! DUMP payloads.
//!
//! ```text
//! type: u8 | object | rdb_version: u16 LE | crc: u64 LE
//! crc = CRC-64/Jones of every byte before it (type, object and version)
//! ```
//! `restore` applies Redis's checks in Redis's order: at least 10 bytes, version not
//! above the maximum, CRC, then the object. Like Redis, the object is read from a
//! buffer that still holds the 10-byte footer, and bytes left between the object and
//! the footer are ignored.

use crate::crc64::crc64;
use crate::error::{Error, Result};
use crate::object;
use crate::reader::{Reader, SliceSource, Source};
use crate::value::Value;

/// The RDB version Redis 7.0 writes (and the highest it restores).
pub const RDB_VERSION_7_0: u16 = 10;

/// Check a payload's footer: length, version and CRC.
pub fn verify(payload: &[u8], max_version: u16) -> Result<()> {
    let n = payload.len();
    if n < 10 {
        return Err(Error::VersionOrChecksum);
    }
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    if version > max_version {
        return Err(Error::VersionOrChecksum);
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&payload[n - 8..]);
    if crc64(&payload[..n - 8]) != u64::from_le_bytes(stored) {
        return Err(Error::VersionOrChecksum);
    }
    Ok(())
}

/// Decode a DUMP payload whose RDB version is at most `max_version`.
/// Decode one RDB object (type byte and body) written for RDB `version`, with deep
/// validation; for values stored as encoded objects (the server keeps streams so).
pub fn decode_object(bytes: &[u8], version: u16) -> Result<Value> {
    let mut r = Reader::new(SliceSource::new(bytes));
    let ty = r.u8()?;
    object::decode(ty, &mut r, version)
}

/// Check a payload's footer, then read its type byte: the RDB version, the type and a
/// reader at the object's body.
fn open(payload: &[u8], max_version: u16) -> Result<(u16, u8, Reader<SliceSource<'_>>)> {
    verify(payload, max_version)?;
    let n = payload.len();
    let version = u16::from_le_bytes([payload[n - 10], payload[n - 9]]);
    let mut r = Reader::new(SliceSource::new(payload));
    let ty = r.u8()?;
    Ok((version, ty, r))
}

/// Check a DUMP payload, then decode it (see the module doc).
pub fn restore(payload: &[u8], max_version: u16) -> Result<Value> {
    let (version, ty, mut r) = open(payload, max_version)?;
    let value = object::decode(ty, &mut r, version)?;
    if value.is_empty_collection() {
        return Err(Error::BadData("empty collection".into()));
    }
    Ok(value)
}

/// What [`restore_borrowed`] decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Restored<'a> {
    /// A value of a type decoded whole.
    Value(Value),
    /// A set, hash or sorted set of plain strings, borrowing from the payload.
    Borrowed(object::Borrowed<'a>),
}

/// [`restore`], with the same checks, errors and results, except that sets, hashes
/// and sorted sets stored as plain strings (what Redis writes for large ones) borrow
/// their raw strings from `payload` instead of copying each into its own allocation.
pub fn restore_borrowed(payload: &[u8], max_version: u16) -> Result<Restored<'_>> {
    let (version, ty, mut r) = open(payload, max_version)?;
    let restored = match object::decode_borrowed(ty, &mut r)? {
        Some(b) if b.is_empty() => return Err(Error::BadData("empty collection".into())),
        Some(b) => Restored::Borrowed(b),
        None => {
            let value = object::decode(ty, &mut r, version)?;
            if value.is_empty_collection() {
                return Err(Error::BadData("empty collection".into()));
            }
            Restored::Value(value)
        }
    };
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_vector() {
        let p = b"\x00\x15hello, dumping world!\x06\x00E\xa0Z\x82\xd8r\xc1\xde";
        assert_eq!(
            restore(p, RDB_VERSION_7_0),
            Ok(Value::String(b"hello, dumping world!".to_vec()))
        );
        assert_eq!(restore(p, 5), Err(Error::VersionOrChecksum));
        let mut bad = p.to_vec();
        bad[3] ^= 1;
        assert_eq!(
            restore(&bad, RDB_VERSION_7_0),
            Err(Error::VersionOrChecksum)
        );
        assert_eq!(
            restore(&p[..9], RDB_VERSION_7_0),
            Err(Error::VersionOrChecksum)
        );
    }
}

/// Opcode of a function library in an RDB stream or a FUNCTION DUMP payload.
const OP_FUNCTION2: u8 = 0xf5;
/// Opcode of Redis 7.0's release-candidate function format (refused, as Redis does).
const OP_FUNCTION_PRE_GA: u8 = 0xf6;

/// A FUNCTION DUMP payload of the libraries' codes, as Redis 7.0 writes it:
/// `0xf5 string(code)` per library (strings as Redis saves them, LZF above 20 bytes),
/// then the RDB version and the CRC-64 as in a DUMP payload.
pub fn functions_payload<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OP_FUNCTION2);
        crate::writer::put_string(&mut out, code, true);
    }
    out.extend_from_slice(&RDB_VERSION_7_0.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a FUNCTION RESTORE payload was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionsPayloadError {
    /// Version or checksum (Redis: "DUMP payload version or checksum are wrong").
    VersionOrChecksum,
    /// Redis 7.0's release-candidate format ("Pre-GA function format not supported").
    PreGa,
    /// Not a function opcode ("given type is not a function").
    NotAFunction,
    /// A library's code does not read (a bad string encoding).
    Malformed,
}

/// The libraries' codes of a FUNCTION DUMP payload (Redis 7.0 or older versions).
pub fn functions_from_payload(
    payload: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, FunctionsPayloadError> {
    verify(payload, RDB_VERSION_7_0).map_err(|_| FunctionsPayloadError::VersionOrChecksum)?;
    let body = &payload[..payload.len() - 10];
    let mut r = Reader::new(SliceSource::new(body));
    let mut codes = Vec::new();
    while r.src.remaining().unwrap_or(0) > 0 {
        let ty = r.u8().map_err(|_| FunctionsPayloadError::Malformed)?;
        match ty {
            OP_FUNCTION2 => {}
            OP_FUNCTION_PRE_GA => return Err(FunctionsPayloadError::PreGa),
            _ => return Err(FunctionsPayloadError::NotAFunction),
        }
        codes.push(r.string().map_err(|_| FunctionsPayloadError::Malformed)?);
    }
    Ok(codes)
}
