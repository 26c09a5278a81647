//! Writing whole RDB files that Redis 7.0 loads.
//!
//! ```text
//! "REDIS0010" | aux redis-ver, redis-bits, ctime, used-mem, aof-base
//! | per database with keys: SELECTDB db, RESIZEDB keys expires,
//!   (EXPIRETIME_MS ms)? type key object ...
//! | EOF 0xFF | CRC-64/Jones u64 LE of everything before it
//! ```
//! Keys are written as they are given; `finish` closes the file. The writer streams:
//! memory is one encoded object at a time.

use std::io::Write;

use crate::crc64::Crc64;
use crate::encode::{encode_object, EncodeConfig};
use crate::value::Value;
use crate::writer::{put_len, put_string};

const OP_AUX: u8 = 0xfa;
const OP_RESIZEDB: u8 = 0xfb;
const OP_EXPIRETIME_MS: u8 = 0xfc;
const OP_SELECTDB: u8 = 0xfe;
const OP_EOF: u8 = 0xff;

/// Streams an RDB (version 10) file to `out`.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: Crc64,
    cfg: EncodeConfig,
    buf: Vec<u8>,
}

impl<W: Write> RdbWriter<W> {
    /// Start a file: magic and aux fields (`redis-ver` names the server that wrote it).
    pub fn new(out: W, redis_ver: &str, ctime_s: u64, cfg: EncodeConfig) -> std::io::Result<Self> {
        let mut w = RdbWriter {
            out,
            crc: Crc64::default(),
            cfg,
            buf: Vec::new(),
        };
        w.buf.extend_from_slice(b"REDIS0010");
        for (k, v) in [
            ("redis-ver", redis_ver.to_string()),
            ("redis-bits", "64".to_string()),
            ("ctime", ctime_s.to_string()),
            ("used-mem", "0".to_string()),
            ("aof-base", "0".to_string()),
        ] {
            w.buf.push(OP_AUX);
            put_string(&mut w.buf, k.as_bytes(), false);
            put_string(&mut w.buf, v.as_bytes(), false);
        }
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        self.crc.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Start database `db`, announcing how many keys (and keys with expiry) follow.
    pub fn select_db(&mut self, db: u64, keys: u64, expires: u64) -> std::io::Result<()> {
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db);
        self.buf.push(OP_RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
        self.flush_buf()
    }

    /// Write one key of the current database.
    pub fn key(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_ms: Option<i64>,
    ) -> std::io::Result<()> {
        if let Some(ms) = expire_ms {
            self.buf.push(OP_EXPIRETIME_MS);
            self.buf.extend_from_slice(&ms.to_le_bytes());
        }
        let mut obj = Vec::new();
        encode_object(&mut obj, value, &self.cfg);
        // The type byte comes before the key, the object body after it.
        self.buf.push(obj[0]);
        put_string(&mut self.buf, key, self.cfg.compression);
        self.buf.extend_from_slice(&obj[1..]);
        self.flush_buf()
    }

    /// Write the end marker and the checksum; return the underlying writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.push(OP_EOF);
        self.flush_buf()?;
        let crc = self.crc.finish();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::{Item, RdbFile};

    #[test]
    fn written_files_read_back() {
        let mut w =
            RdbWriter::new(Vec::new(), "7.0.15", 1_795_239_300, EncodeConfig::default()).unwrap();
        w.select_db(0, 2, 1).unwrap();
        w.key(b"s", &Value::String(b"hello".to_vec()), None)
            .unwrap();
        w.key(
            b"l",
            &Value::List(vec![b"a".to_vec(), b"1".to_vec()]),
            Some(4_102_444_800_000),
        )
        .unwrap();
        w.select_db(3, 1, 0).unwrap();
        w.key(
            b"h",
            &Value::Hash(vec![(b"f".to_vec(), b"v".to_vec())]),
            None,
        )
        .unwrap();
        let bytes = w.finish().unwrap();
        let mut r = RdbFile::new(&bytes[..], Some(bytes.len() as u64)).unwrap();
        let mut entries = Vec::new();
        while let Some(item) = r.next_item().unwrap() {
            if let Item::Entry(e) = item {
                entries.push((e.db, e.key, e.expire_ms));
            }
        }
        assert_eq!(
            entries,
            vec![
                (0, b"s".to_vec(), None),
                (0, b"l".to_vec(), Some(4_102_444_800_000)),
                (3, b"h".to_vec(), None)
            ]
        );
    }
}
