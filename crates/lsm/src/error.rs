//! The engine's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the engine.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// An operating-system I/O error, with what the engine was doing.
    Io {
        /// What the engine was doing, e.g. "write WAL 000012.log".
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored bytes fail their checksum.
    ChecksumMismatch {
        /// The file holding the bad bytes.
        file: PathBuf,
        /// Offset of the checksummed unit inside the file.
        offset: u64,
        /// Checksum stored in the file.
        expected: u32,
        /// Checksum computed over the bytes.
        got: u32,
    },
    /// Stored bytes are malformed (bad length, bad tag, truncated structure).
    Corruption {
        /// The file, when known.
        file: Option<PathBuf>,
        /// Offset inside the file, when known.
        offset: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The caller passed something the engine cannot accept.
    InvalidArgument(String),
    /// Another process (or another handle in this one) holds the directory's `LOCK`.
    Locked(PathBuf),
    /// A background flush, compaction or WAL sync failed earlier; writes are refused
    /// until the database is reopened. Reads keep working.
    Background(String),
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(reason: impl Into<String>) -> Self {
        Error::Corruption {
            file: None,
            offset: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt_at(
        file: &std::path::Path,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: Some(file.to_path_buf()),
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    /// A copy of this error (I/O sources are copied by kind and message).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::ChecksumMismatch {
                file,
                offset,
                expected,
                got,
            } => Error::ChecksumMismatch {
                file: file.clone(),
                offset: *offset,
                expected: *expected,
                got: *got,
            },
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::Locked(p) => Error::Locked(p.clone()),
            Error::Background(m) => Error::Background(m.clone()),
        }
    }

    /// Attach a file name to a corruption error that lacks one.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            Error::Corruption {
                file: None,
                offset,
                reason,
            } => Error::Corruption {
                file: Some(path.to_path_buf()),
                offset,
                reason,
            },
            other => other,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "I/O error: {context}: {source}"),
            Error::ChecksumMismatch {
                file,
                offset,
                expected,
                got,
            } => write!(
                f,
                "checksum mismatch in {} at offset {offset}: stored {expected:#010x}, computed {got:#010x}",
                file.display()
            ),
            Error::Corruption {
                file,
                offset,
                reason,
            } => {
                write!(f, "corruption")?;
                if let Some(file) = file {
                    write!(f, " in {}", file.display())?;
                }
                if let Some(offset) = offset {
                    write!(f, " at offset {offset}")?;
                }
                write!(f, ": {reason}")
            }
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Locked(p) => write!(
                f,
                "database directory is in use: {} is locked by another process or handle",
                p.display()
            ),
            Error::Background(m) => write!(
                f,
                "writes refused after a background error (reopen the database to recover): {m}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
