//! The log format shared by the WAL and the manifest (LevelDB's `log_format`).
//!
//! A log is a sequence of 32 KiB blocks. A record is split into fragments that never
//! cross a block boundary:
//!
//! ```text
//! +----------------+---------------+---------+-----------------+
//! | crc: u32 LE    | len: u16 LE   | type u8 | data (len bytes) |
//! +----------------+---------------+---------+-----------------+
//! crc  = masked CRC-32 (crc32fast) of the type byte followed by data
//! type = 1 FULL | 2 FIRST | 3 MIDDLE | 4 LAST
//! ```
//! A block tail shorter than the 7-byte header is zero padding.
//!
//! Reading (the recovery rules):
//! 1. A fragment whose declared length runs past the end of the file, or a FIRST/MIDDLE
//!    chain cut by the end of the file, is a torn tail: a clean end.
//! 2. Any other bad fragment at offset `X` is a torn tail only if no block starting
//!    after `X` begins with a valid fragment; otherwise it is corruption, reported with
//!    file and offset (of the record `X` breaks). When `X` breaks a FIRST/MIDDLE chain,
//!    the chain's own intact fragments before `X` do not count: a large record torn in
//!    a pre-sized WAL is followed by zeros. An intact fragment out of sequence is
//!    corruption. (Only block starts are probed, so the check is linear in the file
//!    size.)

use std::fs::File;
use std::io::{IoSlice, Read, Write};
use std::path::{Path, PathBuf};

use crate::coding::masked_crc;
use crate::error::{Error, Result};

pub(crate) const BLOCK: usize = 32 * 1024;
pub(crate) const HEADER: usize = 7;

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;

/// A record at least this long (or at least the writer's buffer limit, when it has
/// one) is written straight from the caller's bytes (`LogWriter::write_record_direct`).
const DIRECT_RECORD: usize = 1 << 20;
/// Slices per `writev` call (Linux's `IOV_MAX`).
const MAX_IOVECS: usize = 1024;

/// Appends records to a log file. Not thread-safe; the owner serializes access.
///
/// Framed records collect in `buf` until it holds `buffer_limit` bytes (0: every record
/// is written at once); `flush` hands them to the OS and `sync` makes them durable.
pub(crate) struct LogWriter {
    file: File,
    path: PathBuf,
    block_offset: usize,
    size: u64,
    buf: Vec<u8>,
    buffer_limit: usize,
    /// Records at least this long take `write_record_direct` (`DIRECT_RECORD`).
    direct_min: usize,
}

impl LogWriter {
    pub(crate) fn create(path: &Path) -> Result<Self> {
        Self::create_buffered(path, 0, 0)
    }

    /// Create a log whose records are buffered up to `buffer_limit` bytes. With
    /// `presize > 0` the file is first extended to that many (zero) bytes and synced, so
    /// that later `fdatasync` calls need not commit a change of file size; the zero tail
    /// reads as a clean end (recovery rule 2).
    pub(crate) fn create_buffered(path: &Path, buffer_limit: usize, presize: u64) -> Result<Self> {
        let io = |e| Error::io(format!("create {}", path.display()), e);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        if presize > 0 {
            file.set_len(presize)
                .and_then(|_| file.sync_all())
                .map_err(io)?;
        }
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
            block_offset: 0,
            size: 0,
            buf: Vec::with_capacity(BLOCK.max(buffer_limit)),
            buffer_limit,
            // A record that fills the buffer by itself is not copied into it: the
            // buffer keeps its size, and a new log's buffer does not regrow (and fault
            // in fresh pages) to a large batch's size.
            direct_min: match buffer_limit {
                0 => DIRECT_RECORD,
                n => n.min(DIRECT_RECORD),
            },
        })
    }

    /// Bytes written so far (buffered ones included).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Frame `data` into fragments; they reach the OS now (unbuffered) or when the buffer
    /// fills, at `flush` or at `sync`.
    pub(crate) fn add_record(&mut self, data: &[u8]) -> Result<()> {
        self.add_record_parts(&[data])
    }

    /// `add_record` of the concatenation of `parts` (without building it first).
    pub(crate) fn add_record_parts(&mut self, parts: &[&[u8]]) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total >= self.direct_min {
            return self.write_record_direct(parts, total);
        }
        let before = self.buf.len();
        let mut cursor = (0, 0);
        let buf = &mut self.buf;
        for_each_fragment(&mut self.block_offset, total, |pad, ty, n| {
            buf.extend(std::iter::repeat_n(0u8, pad));
            let header_at = buf.len();
            buf.extend_from_slice(&[0; HEADER]);
            take_slices(parts, &mut cursor, n, |s| buf.extend_from_slice(s));
            let crc = masked_crc(&[&[ty], &buf[header_at + HEADER..]]);
            buf[header_at..header_at + HEADER].copy_from_slice(&header(crc, n, ty));
        });
        self.size += (self.buf.len() - before) as u64;
        if self.buf.len() >= self.buffer_limit {
            self.flush()?;
        }
        Ok(())
    }

    /// A large record (a RESTORE's batch, or any record that fills the buffer): the
    /// buffered records, then its fragment headers and padding around the caller's
    /// bytes, in the same `writev` calls, without copying the record into `buf`. The
    /// bytes on disk are those the buffered path writes.
    fn write_record_direct(&mut self, parts: &[&[u8]], total: usize) -> Result<()> {
        const ZEROS: [u8; HEADER] = [0; HEADER];
        const TYPE_BYTES: [[u8; 1]; 5] = [[0], [FULL], [FIRST], [MIDDLE], [LAST]];
        /// Padding before a fragment, its header, where its data starts, its length.
        struct Frag {
            pad: usize,
            header: [u8; HEADER],
            start: (usize, usize),
            len: usize,
        }
        // Headers first (each fragment's CRC covers its data), then the slices.
        let mut frags: Vec<Frag> = Vec::new();
        let mut cursor = (0, 0);
        let mut written = 0u64;
        for_each_fragment(&mut self.block_offset, total, |pad, ty, n| {
            let start = cursor;
            let mut data: Vec<&[u8]> = vec![&TYPE_BYTES[usize::from(ty)]];
            take_slices(parts, &mut cursor, n, |s| data.push(s));
            frags.push(Frag {
                pad,
                header: header(masked_crc(&data), n, ty),
                start,
                len: n,
            });
            written += (pad + HEADER + n) as u64;
        });
        // The buffered records go first, in the same `writev`.
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frags.len() * 4 + 1);
        if !self.buf.is_empty() {
            slices.push(IoSlice::new(&self.buf));
        }
        for f in &frags {
            if f.pad > 0 {
                slices.push(IoSlice::new(&ZEROS[..f.pad]));
            }
            slices.push(IoSlice::new(&f.header));
            let mut cursor = f.start;
            take_slices(parts, &mut cursor, f.len, |s| slices.push(IoSlice::new(s)));
        }
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let batch = rest.len().min(MAX_IOVECS);
            let n = match self.file.write_vectored(&rest[..batch]) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("write {}", self.path.display()),
                        std::io::ErrorKind::WriteZero.into(),
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("write {}", self.path.display()), e)),
            };
            IoSlice::advance_slices(&mut rest, n);
        }
        self.buf.clear();
        self.size += written;
        Ok(())
    }

    /// Hand buffered records to the OS (one `write` call).
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let res = self
            .file
            .write_all(&self.buf)
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e));
        self.buf.clear();
        res
    }

    pub(crate) fn sync(&mut self) -> Result<()> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(format!("fsync {}", self.path.display()), e))
    }
}

/// Split a record of `total` bytes into fragments, starting at `block_offset` (moved
/// past them): for each, `f(padding before it, its type, its data length)`.
fn for_each_fragment(block_offset: &mut usize, total: usize, mut f: impl FnMut(usize, u8, usize)) {
    let mut left_total = total;
    let mut first = true;
    loop {
        let mut pad = 0;
        let left = BLOCK - *block_offset;
        if left < HEADER {
            pad = left;
            *block_offset = 0;
        }
        let n = left_total.min(BLOCK - *block_offset - HEADER);
        let end = n == left_total;
        let ty = match (first, end) {
            (true, true) => FULL,
            (true, false) => FIRST,
            (false, true) => LAST,
            (false, false) => MIDDLE,
        };
        f(pad, ty, n);
        *block_offset += HEADER + n;
        left_total -= n;
        first = false;
        if end {
            return;
        }
    }
}

/// The next `n` bytes of the concatenation of `parts` from `cursor` (part, offset),
/// as slices passed to `f`; `cursor` moves past them.
fn take_slices<'a>(
    parts: &[&'a [u8]],
    cursor: &mut (usize, usize),
    n: usize,
    mut f: impl FnMut(&'a [u8]),
) {
    let mut need = n;
    while need > 0 {
        let (part, at) = *cursor;
        let p = parts[part];
        let take = (p.len() - at).min(need);
        f(&p[at..at + take]);
        need -= take;
        *cursor = if at + take == p.len() {
            (part + 1, 0)
        } else {
            (part, at + take)
        };
    }
}

/// A fragment header.
fn header(crc: u32, len: usize, ty: u8) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&crc.to_le_bytes());
    h[4..6].copy_from_slice(&(len as u16).to_le_bytes());
    h[6] = ty;
    h
}

/// Reads records back, applying the recovery rules of the module doc.
pub(crate) struct LogReader {
    path: PathBuf,
    data: Vec<u8>,
    pos: usize,
    /// Bytes at the end that were dropped as a torn tail.
    pub(crate) dropped_tail: u64,
}

impl LogReader {
    /// Reads the whole file: logs are bounded by the memtable budget (WAL) or by the
    /// manifest rewrite threshold.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let mut data = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        Ok(LogReader {
            path: path.to_path_buf(),
            data,
            pos: 0,
            dropped_tail: 0,
        })
    }

    /// A reader of `data` (fuzzing: no file).
    pub(crate) fn from_bytes(data: Vec<u8>) -> Self {
        LogReader {
            path: PathBuf::from("<bytes>"),
            data,
            pos: 0,
            dropped_tail: 0,
        }
    }

    /// The next record, `None` at the (possibly torn) end.
    pub(crate) fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        let mut record: Option<Vec<u8>> = None;
        let mut record_start = self.pos;
        loop {
            if BLOCK - self.pos % BLOCK < HEADER {
                self.pos += BLOCK - self.pos % BLOCK;
            }
            let in_block = self.pos % BLOCK;
            if self.pos >= self.data.len() {
                if record.is_some() {
                    // A FIRST/MIDDLE chain cut by the end of the file: torn tail.
                    self.dropped_tail = (self.data.len() - record_start) as u64;
                }
                return Ok(None);
            }
            let at = self.pos;
            let h = &self.data[at..];
            if h.len() < HEADER {
                self.dropped_tail = h.len() as u64;
                self.pos = self.data.len();
                return Ok(None);
            }
            let stored = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let len = u16::from_le_bytes([h[4], h[5]]) as usize;
            let ty = h[6];
            if HEADER + len > h.len() {
                // Rule 1: the fragment runs past the end of the file.
                self.dropped_tail = (self.data.len() - record_start.min(at)) as u64;
                self.pos = self.data.len();
                return Ok(None);
            }
            let frag = &h[HEADER..HEADER + len];
            let crc_ok = in_block + HEADER + len <= BLOCK && masked_crc(&[&[ty], frag]) == stored;
            let seq_ok = match ty {
                FULL | FIRST => record.is_none(),
                MIDDLE | LAST => record.is_some(),
                _ => false,
            };
            if !crc_ok || !seq_ok {
                let start = at.min(record_start);
                if crc_ok && (FULL..=LAST).contains(&ty) {
                    // An intact fragment out of sequence: the log goes on past the break.
                    return Err(Error::corrupt_at(
                        &self.path,
                        start as u64,
                        "bad log record before the end of the log",
                    ));
                }
                return self.bad_fragment(at, start);
            }
            self.pos = at + HEADER + len;
            match ty {
                FULL => return Ok(Some(frag.to_vec())),
                FIRST => {
                    record_start = at;
                    record = Some(frag.to_vec());
                }
                MIDDLE => {
                    if let Some(r) = record.as_mut() {
                        r.extend_from_slice(frag);
                    }
                }
                _ => {
                    return Ok(record.map(|mut r| {
                        r.extend_from_slice(frag);
                        r
                    }))
                }
            }
        }
    }

    /// Rule 2: a bad fragment at `at` is a torn tail unless a later block starts
    /// validly. `start` is where the record it breaks began (`at` for a lone bad
    /// fragment): the dropped tail and the error's offset count from there, while the
    /// probe starts after `at`, past the record's own intact FIRST and MIDDLE fragments
    /// (a large record torn in a pre-sized WAL is followed by zeros, not by the log).
    fn bad_fragment(&mut self, at: usize, start: usize) -> Result<Option<Vec<u8>>> {
        let mut probe = (at / BLOCK + 1) * BLOCK;
        while probe + HEADER <= self.data.len() {
            let h = &self.data[probe..];
            let stored = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let len = u16::from_le_bytes([h[4], h[5]]) as usize;
            let ty = h[6];
            if (FULL..=LAST).contains(&ty)
                && HEADER + len <= h.len().min(BLOCK)
                && masked_crc(&[&[ty], &h[HEADER..HEADER + len]]) == stored
            {
                return Err(Error::corrupt_at(
                    &self.path,
                    start as u64,
                    "bad log record before the end of the log",
                ));
            }
            probe += BLOCK;
        }
        self.dropped_tail = (self.data.len() - start) as u64;
        self.pos = self.data.len();
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, records: &[Vec<u8>]) {
        let mut w = LogWriter::create(path).unwrap();
        for r in records {
            w.add_record(r).unwrap();
        }
        w.sync().unwrap();
    }

    fn read_all(path: &Path) -> Result<Vec<Vec<u8>>> {
        let mut r = LogReader::open(path)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    fn records() -> Vec<Vec<u8>> {
        (0..200u32)
            .map(|i| vec![(i % 251) as u8; (i as usize * 997) % 70_000])
            .collect()
    }

    #[test]
    fn a_record_in_parts_reads_back_whole() {
        let d = crate::testutil::TempDir::new("log-parts");
        let path = d.path().join("p.log");
        let a: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        let b: Vec<u8> = (0..70_001u32).map(|i| (i * 7) as u8).collect();
        let mut w = LogWriter::create(&path).unwrap();
        w.add_record_parts(&[&a[..5], &[], &b]).unwrap();
        w.add_record_parts(&[b"x", b"yz"]).unwrap();
        w.add_record(&a).unwrap();
        w.sync().unwrap();
        let mut whole = a[..5].to_vec();
        whole.extend_from_slice(&b);
        assert_eq!(
            read_all(&path).unwrap(),
            vec![whole, b"xyz".to_vec(), a.clone()]
        );
    }

    /// Large records written around the caller's bytes (`writev`) are byte for byte
    /// what the buffered path writes: at every block offset a record may start at
    /// (padding included), from parts split anywhere, between small records.
    #[test]
    fn direct_large_records_match_the_buffered_bytes() {
        let d = crate::testutil::TempDir::new("log-direct");
        let big: Vec<u8> = (0..(3 << 20) + 12_345u32)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        let write_with = |name: &str, direct_min: usize| {
            let path = d.path().join(name);
            let mut w = LogWriter::create_buffered(&path, 64 << 10, 0).unwrap();
            w.direct_min = direct_min;
            let mut want = Vec::new();
            // Each large record starts with `gap` bytes left in its block: 0 (a block
            // start), 7 (just a header), or 1 to 6 (padding first).
            for (i, gap) in [8usize, 0, 1, 2, 3, 5, 6, 7, 100].into_iter().enumerate() {
                while BLOCK - w.block_offset < HEADER + gap {
                    w.add_record(b"").unwrap();
                    want.push(Vec::new());
                }
                let small = BLOCK - w.block_offset - HEADER - gap;
                w.add_record(&big[..small]).unwrap();
                want.push(big[..small].to_vec());
                let len = (1 << 20) + i * 233_333;
                let cut = i * 4099 % len;
                w.add_record_parts(&[&big[..cut], &[], &big[cut..len]])
                    .unwrap();
                want.push(big[..len].to_vec());
            }
            w.sync().unwrap();
            (
                std::fs::read(&path).unwrap(),
                read_all(&path).unwrap(),
                want,
            )
        };
        let (buffered, _, _) = write_with("buffered.log", usize::MAX);
        let (direct, records, want) = write_with("direct.log", DIRECT_RECORD);
        assert!(buffered == direct, "the two paths wrote different bytes");
        assert_eq!(records, want);
    }

    /// A buffered writer takes a record at least its buffer's size around the buffer
    /// (one `writev` with what the buffer holds): the bytes are the buffered path's,
    /// and the buffer never grows past its size.
    #[test]
    fn records_that_fill_the_buffer_skip_it() {
        let d = crate::testutil::TempDir::new("log-fill");
        let write_with = |name: &str, direct_min: Option<usize>| {
            let path = d.path().join(name);
            let mut w = LogWriter::create_buffered(&path, 64 << 10, 0).unwrap();
            if let Some(m) = direct_min {
                w.direct_min = m;
            }
            let cap = w.buf.capacity();
            let mut want = Vec::new();
            for i in 0..40usize {
                let len = [10, 70_000, 65_536, 65_535, 300_000, 1][i % 6] + i;
                let rec: Vec<u8> = (0..len).map(|j| (j * 7 + i) as u8).collect();
                w.add_record(&rec).unwrap();
                want.push(rec);
            }
            w.sync().unwrap();
            let grown = w.buf.capacity() > cap;
            (
                std::fs::read(&path).unwrap(),
                read_all(&path).unwrap(),
                want,
                grown,
            )
        };
        let (buffered, _, _, _) = write_with("buffered.log", Some(usize::MAX));
        let (direct, records, want, grown) = write_with("direct.log", None);
        assert!(buffered == direct, "the two paths wrote different bytes");
        assert_eq!(records, want);
        assert!(!grown, "the buffer grew");
    }

    #[test]
    fn roundtrip_across_blocks() {
        let d = crate::testutil::TempDir::new("log-rt");
        let p = d.path().join("a.log");
        let recs = records();
        write(&p, &recs);
        assert_eq!(read_all(&p).unwrap(), recs);
    }

    #[test]
    fn records_ending_near_a_block_boundary() {
        // Every padding size 0..=7 at the end of the first block.
        for pad in 0..=HEADER + 1 {
            let d = crate::testutil::TempDir::new("log-pad");
            let p = d.path().join("a.log");
            let first = vec![1u8; BLOCK - HEADER - HEADER - pad];
            let recs = vec![first, vec![2u8; 10], vec![3u8; 40_000], vec![4u8; 5]];
            write(&p, &recs);
            assert_eq!(read_all(&p).unwrap(), recs, "pad {pad}");
        }
    }

    #[test]
    fn every_truncation_is_a_clean_prefix() {
        let d = crate::testutil::TempDir::new("log-trunc");
        let p = d.path().join("a.log");
        let recs: Vec<Vec<u8>> = (0..40u32)
            .map(|i| vec![i as u8; 1000 + i as usize * 40])
            .collect();
        write(&p, &recs);
        let full = std::fs::read(&p).unwrap();
        for cut in (0..full.len()).step_by(97) {
            std::fs::write(&p, &full[..cut]).unwrap();
            let got = read_all(&p).unwrap();
            assert!(got.len() <= recs.len());
            assert_eq!(&recs[..got.len()], &got[..], "cut at {cut}");
        }
    }

    /// A pre-sized WAL: whatever was written, then zeros. Records up to 70 KB span
    /// blocks, so many cuts fall inside a FIRST/MIDDLE chain (a crash during a large
    /// batch's write).
    #[test]
    fn every_truncation_followed_by_zeros_is_a_clean_prefix() {
        let d = crate::testutil::TempDir::new("log-trunc-zeros");
        let p = d.path().join("a.log");
        let recs = records();
        write(&p, &recs[..60]);
        let full = std::fs::read(&p).unwrap();
        for cut in (0..full.len()).step_by(1999) {
            let mut torn = full[..cut].to_vec();
            torn.resize(full.len() + 3 * BLOCK, 0);
            std::fs::write(&p, &torn).unwrap();
            let got = read_all(&p).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert_eq!(&recs[..got.len()], &got[..], "cut at {cut}");
        }
        // A chain broken in its middle with intact blocks of the log after the break.
        let mut holed = full.clone();
        let second_block = BLOCK + 100;
        holed[second_block..second_block + 50].fill(0);
        std::fs::write(&p, &holed).unwrap();
        assert!(matches!(read_all(&p), Err(Error::Corruption { .. })));
    }

    #[test]
    fn garbage_tail_is_clean_end_but_middle_corruption_is_reported() {
        let d = crate::testutil::TempDir::new("log-garbage");
        let p = d.path().join("a.log");
        let recs = records();
        write(&p, &recs);
        let mut full = std::fs::read(&p).unwrap();
        let mut garbage = full.clone();
        garbage.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        std::fs::write(&p, &garbage).unwrap();
        assert_eq!(read_all(&p).unwrap(), recs);
        // Zeroed (preallocated) tail.
        let mut zeros = full.clone();
        zeros.extend(std::iter::repeat_n(0u8, 40_000));
        std::fs::write(&p, &zeros).unwrap();
        assert_eq!(read_all(&p).unwrap(), recs);
        // A flipped byte early on, with valid blocks after it: corruption naming the offset.
        full[100] ^= 0x55;
        std::fs::write(&p, &full).unwrap();
        match read_all(&p) {
            Err(Error::Corruption {
                file: Some(f),
                offset: Some(o),
                ..
            }) => {
                assert_eq!(f, p);
                assert!(o <= 100);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
    }
}
