//! Whole RDB files, read as a stream: one item at a time, memory bounded by the largest
//! single value, never by the file.
//!
//! ```text
//! "REDIS" + 4 ASCII digits (version) | item* | 0xFF | crc: u64 LE (version >= 5)
//! item = 0xFA aux: string key, string value
//!      | 0xFE select db: length
//!      | 0xFB resize db: length keys, length expires
//!      | 0xFC expire time ms: i64 LE            (applies to the next key)
//!      | 0xFD expire time s: i32 LE             (applies to the next key)
//!      | 0xF8 LRU idle seconds: length          (applies to the next key)
//!      | 0xF9 LFU frequency: u8                 (applies to the next key)
//!      | 0xF5 function library: string          (0xF6, 7.0's pre-release form, too)
//!      | 0xF7 module aux                        (refused: needs the module)
//!      | type: u8, key: string, value: object (object.rs)
//! crc = CRC-64/Jones of every byte before it, 0xFF included; 0 = not computed
//! ```
//! Versions 1 to 12 are read (types newer than the file's version are refused).
//! Empty collections are skipped, as Redis skips them when loading; expired keys are
//! returned with their expire time (dropping them is the caller's decision).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::crc64::Crc64;
use crate::error::{bad, Error, Result};
use crate::object;
use crate::reader::{Reader, Source};
use crate::value::Value;

/// Highest RDB version read (Redis 7.4 writes 12).
pub const MAX_FILE_VERSION: u16 = 12;

const OP_FUNCTION2: u8 = 0xf5;
const OP_FUNCTION_PRE_GA: u8 = 0xf6;
const OP_MODULE_AUX: u8 = 0xf7;
const OP_IDLE: u8 = 0xf8;
const OP_FREQ: u8 = 0xf9;
const OP_AUX: u8 = 0xfa;
const OP_RESIZEDB: u8 = 0xfb;
const OP_EXPIRETIME_MS: u8 = 0xfc;
const OP_EXPIRETIME: u8 = 0xfd;
const OP_SELECTDB: u8 = 0xfe;
const OP_EOF: u8 = 0xff;

/// One key of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The logical database (SELECT index).
    pub db: u64,
    /// The key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Value,
    /// Absolute expire time, Unix milliseconds.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (files saved under an LRU policy).
    pub lru_idle_s: Option<u64>,
    /// LFU frequency counter (files saved under an LFU policy).
    pub lfu_freq: Option<u8>,
}

/// What the file holds besides keys.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// An auxiliary field (`redis-ver`, `ctime`, ...).
    Aux {
        /// Field name.
        key: Vec<u8>,
        /// Field value (integers as decimal text).
        value: Vec<u8>,
    },
    /// The size hint before a database's keys.
    ResizeDb {
        /// Keys in the database.
        keys: u64,
        /// Keys with an expire time.
        expires: u64,
    },
    /// A function library (its code).
    Function(Vec<u8>),
    /// A key.
    Entry(Entry),
}

/// A byte stream that feeds the file CRC and knows how much is left, when it can.
struct Stream<R: Read> {
    inner: R,
    crc: Crc64,
    left: Option<u64>,
}

impl<R: Read> Source for Stream<R> {
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.inner
            .read_exact(buf)
            .map_err(|e| Error::BadData(format!("unexpected end of RDB data: {e}")))?;
        self.crc.update(buf);
        if let Some(l) = self.left.as_mut() {
            *l = l.saturating_sub(buf.len() as u64);
        }
        Ok(())
    }

    fn read_vec(&mut self, n: u64) -> Result<Vec<u8>> {
        if self.left.is_some_and(|l| n > l) {
            return bad(format!(
                "{n} bytes wanted, {} left in the file",
                self.left.unwrap_or(0)
            ));
        }
        // Grows as data arrives: a lying length on an unsized stream costs no more
        // memory than the bytes really there.
        let mut v = Vec::new();
        (&mut self.inner)
            .take(n)
            .read_to_end(&mut v)
            .map_err(|e| Error::BadData(format!("reading RDB data: {e}")))?;
        if (v.len() as u64) < n {
            return bad("unexpected end of RDB data");
        }
        self.crc.update(&v);
        if let Some(l) = self.left.as_mut() {
            *l = l.saturating_sub(n);
        }
        Ok(v)
    }

    fn remaining(&self) -> Option<u64> {
        self.left
    }
}

/// A streaming RDB file reader.
pub struct RdbFile<R: Read> {
    r: Reader<Stream<R>>,
    version: u16,
    db: u64,
    done: bool,
    /// Empty collections skipped so far.
    pub empty_keys_skipped: u64,
}

impl RdbFile<BufReader<File>> {
    /// Open a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |e: std::io::Error| Error::BadData(format!("{}: {e}", path.display()));
        let f = File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        Self::new(BufReader::with_capacity(256 << 10, f), Some(len))
    }
}

impl<R: Read> RdbFile<R> {
    /// Read from any byte stream; `len`, when known, lets the reader refuse length
    /// fields larger than what is left.
    pub fn new(inner: R, len: Option<u64>) -> Result<Self> {
        let mut r = Reader::new(Stream {
            inner,
            crc: Crc64::default(),
            left: len,
        });
        let head = r.array::<9>()?;
        if &head[..5] != b"REDIS" {
            return bad("not an RDB file (no REDIS magic)");
        }
        let version = std::str::from_utf8(&head[5..])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| Error::BadData("RDB version is not four digits".into()))?;
        if version == 0 || version > MAX_FILE_VERSION {
            return bad(format!("RDB version {version} is not supported"));
        }
        Ok(RdbFile {
            r,
            version,
            db: 0,
            done: false,
            empty_keys_skipped: 0,
        })
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The next item, `None` after the end marker (and its checksum, when checked).
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        let (mut expire_ms, mut idle, mut freq) = (None, None, None);
        loop {
            if self.done {
                return Ok(None);
            }
            let op = self.r.u8()?;
            match op {
                OP_AUX => {
                    let key = self.r.string()?;
                    let value = self.r.string()?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                OP_SELECTDB => self.db = self.r.len()?,
                OP_RESIZEDB => {
                    let keys = self.r.len()?;
                    let expires = self.r.len()?;
                    return Ok(Some(Item::ResizeDb { keys, expires }));
                }
                OP_EXPIRETIME_MS => expire_ms = Some(i64::from_le_bytes(self.r.array()?)),
                OP_EXPIRETIME => {
                    expire_ms = Some(i64::from(i32::from_le_bytes(self.r.array()?)) * 1000)
                }
                OP_IDLE => idle = Some(self.r.len()?),
                OP_FREQ => freq = Some(self.r.u8()?),
                OP_FUNCTION2 | OP_FUNCTION_PRE_GA => {
                    return Ok(Some(Item::Function(self.r.string()?)))
                }
                OP_MODULE_AUX => return Err(Error::Unsupported(OP_MODULE_AUX)),
                OP_EOF => {
                    self.done = true;
                    if self.version >= 5 {
                        let computed = self.r.src.crc.finish();
                        let stored = u64::from_le_bytes(self.r.array()?);
                        if stored != 0 && stored != computed {
                            return bad(format!(
                                "RDB file checksum mismatch: stored {stored:#018x}, computed {computed:#018x}"
                            ));
                        }
                    }
                    return Ok(None);
                }
                ty => {
                    let key = self.r.string()?;
                    let value = object::decode(ty, &mut self.r, self.version)?;
                    if value.is_empty_collection() {
                        self.empty_keys_skipped += 1;
                        (expire_ms, idle, freq) = (None, None, None);
                        continue;
                    }
                    return Ok(Some(Item::Entry(Entry {
                        db: self.db,
                        key,
                        value,
                        expire_ms,
                        lru_idle_s: idle,
                        lfu_freq: freq,
                    })));
                }
            }
        }
    }
}
