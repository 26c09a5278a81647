//! The codec's error type.

/// Why a payload or file could not be decoded.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A DUMP payload's RDB version is too new, or its CRC-64 does not match (Redis:
    /// `ERR DUMP payload version or checksum are wrong`).
    VersionOrChecksum,
    /// The bytes are not a valid encoding (Redis: `ERR Bad data format`); the text says
    /// what is wrong.
    BadData(String),
    /// A value type the codec does not decode (modules 6/7, streams 15/19/21, hash field
    /// TTLs 24/25, or an unknown type byte).
    Unsupported(u8),
}

/// The codec's result type.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn bad<T>(why: impl Into<String>) -> Result<T> {
    Err(Error::BadData(why.into()))
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::VersionOrChecksum => write!(f, "DUMP payload version or checksum are wrong"),
            Error::BadData(why) => write!(f, "bad data format: {why}"),
            Error::Unsupported(t) => write!(f, "unsupported RDB object type {t}"),
        }
    }
}

impl std::error::Error for Error {}
