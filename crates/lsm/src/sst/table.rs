//! Reads an SST: point reads and user scans in place from a read-only memory mapping
//! (`Options::mmap_reads`, the default), or through `pread` and the block cache;
//! compaction and `no_fill_cache` scans always use `pread` without filling the cache.
//!
//! Thread-safety: a `Table` is shared by all readers (`Arc<Table>`); every method takes
//! `&self`. Invariants:
//! 1. The file is never modified or truncated after it is written; it is unlinked only
//!    when the last `Arc<Table>` is dropped after compaction marked it obsolete. This is
//!    what makes the mapping sound: its bytes never change while it exists.
//! 2. The index block and the bloom filter are read and checked once, at open.
//! 3. Every block is checked against its CRC before its bytes are used: a mismatch is an
//!    error naming the file and offset, never data. Mapped blocks are checked on first
//!    use and remembered in `verified`; pread blocks on every read (then cached).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::cache::BlockCache;
use crate::coding::{masked_crc, u32_at, u64_at, Reader};
use crate::error::{Error, Result};
use crate::ikey;
use crate::iter::{InternalIterator, TwoLevelIterator};
use crate::memtable::Lookup;
use crate::sst::block::BlockIter;
use crate::sst::{bloom, BLOCK_TRAILER, FOOTER_LEN, FORMAT_VERSION, MAGIC};

pub(crate) struct Table {
    pub number: u64,
    path: PathBuf,
    file: File,
    index: Arc<[u8]>,
    /// The index decoded at open: each data block's last key, back to back...
    fence_keys: Vec<u8>,
    /// ...and per block: (end of its key in `fence_keys`, offset, length).
    fences: Vec<(usize, u64, u64)>,
    /// Bytes the user keys of the fences `common_range` start with: the common prefix
    /// of the table's middle three quarters of fences (a table of one collection's
    /// records and a few other keys at its ends still gets the collection's long
    /// prefix)...
    fence_common: Vec<u8>,
    /// ...its first 8 bytes (zero-padded, big-endian), which decide the comparison
    /// with a lookup's key without loading `fence_common`'s bytes when it is that
    /// short (`Table::common_cmp`)...
    common_head: u64,
    /// ...the fences that have it (contiguous: the fences are sorted)...
    common_range: (usize, usize),
    /// ...and per fence the next 8 bytes of its user key as a big-endian u64 (missing
    /// bytes 0; 0 for the fences before `common_range`, `u64::MAX` after it, which
    /// keeps the array sorted): a point lookup binary-searches this dense array first and compares
    /// whole keys only among fences that share the target's prefix.
    fence_prefix: Vec<u64>,
    /// Every `SAMPLE`th entry of `fence_prefix`: a few KiB that stay in the CPU cache,
    /// searched first, so the search of `fence_prefix` itself touches one run of
    /// `SAMPLE` entries instead of a cache line per halving of the whole array.
    fence_sample: Vec<u64>,
    filter: Vec<u8>,
    cache: Arc<BlockCache>,
    /// Read-only mapping of the whole file, when mapped reads are on.
    map: Option<memmap2::Mmap>,
    /// One bit per data block (fence index): its CRC was checked in the mapping.
    verified: Vec<AtomicU64>,
    /// Set when compaction replaced this table: the file is unlinked on drop.
    obsolete: AtomicBool,
}

/// The 8 bytes of `user` after its first `skip` (missing bytes 0), big-endian. For
/// keys that share their first `skip` bytes, `prefix_after(a) < prefix_after(b)`
/// implies `a < b` (at the first differing byte `a` has a smaller byte, or has ended,
/// being a prefix of `b` there), and `>` implies `>`.
/// Stride of `Table::fence_sample`: 64 prefixes are 512 bytes, eight cache lines.
const SAMPLE: usize = 64;

/// The run `lo..hi` of entries of the sorted `all` equal to `p` (empty at the first
/// entry above `p` when none is), with `sample` = every `SAMPLE`th entry of `all`.
fn equal_run(all: &[u64], sample: &[u64], p: u64) -> (usize, usize) {
    // sample[j] = all[j * SAMPLE]: entries before (j - 1) * SAMPLE are all below p, and
    // all[j * SAMPLE] (when it exists) is not.
    let j = sample.partition_point(|&x| x < p);
    let start = j.saturating_sub(1) * SAMPLE;
    let end = (j * SAMPLE).min(all.len());
    let lo = start + all[start..end].partition_point(|&x| x < p);
    // The equal run is short (usually 0 or 1 entries): gallop to its end.
    let mut step = 1;
    let mut hi = lo;
    while hi + step <= all.len() && all[hi + step - 1] == p {
        hi += step;
        step *= 2;
    }
    let upto = (hi + step).min(all.len());
    hi += all[hi..upto].partition_point(|&x| x == p);
    (lo, hi)
}

/// `user[..c].cmp(common)` for `c = common.len()`, None when `user` is shorter;
/// `head` is `ikey::prefix_u64(common)`. Up to 8 bytes, `common`'s own bytes are not
/// read (they are another allocation, often a cache miss).
fn head_cmp(user: &[u8], common: &[u8], head: u64) -> Option<std::cmp::Ordering> {
    let c = common.len();
    if user.len() < c {
        return None;
    }
    if c > 8 {
        return Some(user[..c].cmp(common));
    }
    // The first c bytes of `user`, placed as `head` holds `common`'s.
    let mask = u64::MAX.checked_shl(64 - 8 * c as u32).unwrap_or(0);
    Some((ikey::prefix_u64(user) & mask).cmp(&head))
}

fn prefix_after(user: &[u8], skip: usize) -> u64 {
    ikey::prefix_u64(user.get(skip..).unwrap_or_default())
}

impl Table {
    pub(crate) fn open(
        path: &Path,
        number: u64,
        cache: Arc<BlockCache>,
        mmap: bool,
    ) -> Result<Table> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();
        if size < FOOTER_LEN as u64 {
            return Err(Error::corrupt_at(
                path,
                0,
                "file shorter than an SST footer",
            ));
        }
        let foot_at = size - FOOTER_LEN as u64;
        let mut footer = [0u8; FOOTER_LEN];
        file.read_exact_at(&mut footer, foot_at)
            .map_err(|e| Error::io(format!("read footer of {}", path.display()), e))?;
        if &footer[48..56] != MAGIC {
            return Err(Error::corrupt_at(path, foot_at + 48, "bad SST magic"));
        }
        let stored = u32_at(&footer, 44).unwrap_or(0);
        let got = masked_crc(&[&footer[..44]]);
        if stored != got {
            return Err(Error::ChecksumMismatch {
                file: path.to_path_buf(),
                offset: foot_at,
                expected: stored,
                got,
            });
        }
        let version = u32_at(&footer, 40).unwrap_or(0);
        if version != FORMAT_VERSION {
            return Err(Error::corrupt_at(
                path,
                foot_at + 40,
                format!("unsupported SST format version {version}"),
            ));
        }
        let field = |i: usize| u64_at(&footer, i * 8).unwrap_or(u64::MAX);
        let mut t = Table {
            number,
            path: path.to_path_buf(),
            file,
            index: Arc::from(Vec::new()),
            fence_keys: Vec::new(),
            fences: Vec::new(),
            fence_common: Vec::new(),
            common_head: 0,
            common_range: (0, 0),
            fence_prefix: Vec::new(),
            fence_sample: Vec::new(),
            filter: Vec::new(),
            cache,
            map: None,
            verified: Vec::new(),
            obsolete: AtomicBool::new(false),
        };
        for (off, len) in [(field(0), field(1)), (field(2), field(3))] {
            if off
                .checked_add(len)
                .and_then(|e| e.checked_add(4))
                .is_none_or(|e| e > foot_at)
            {
                return Err(Error::corrupt_at(
                    path,
                    foot_at,
                    "block handle outside the file",
                ));
            }
        }
        t.index = t.read_raw(field(0), field(1))?.into();
        t.filter = t.read_raw(field(2), field(3))?;
        t.decode_fences(foot_at).map_err(|e| e.in_file(path))?;
        if mmap {
            // SAFETY: invariant 1: the file is never written, truncated or replaced while
            // a Table for it exists. A media error while reading a mapped page raises
            // SIGBUS instead of an error value: the trade-off docs/decisions.md states.
            let map = unsafe { memmap2::Mmap::map(&t.file) }
                .map_err(|e| Error::io(format!("map {}", path.display()), e))?;
            t.map = Some(map);
            t.verified = (0..t.fences.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect();
        }
        Ok(t)
    }

    /// Decode the index block into `fences` (checked once here, so point reads can
    /// binary-search plain slices instead of decoding varints at every probe).
    /// Every data block must end (its trailer included) by `limit`, the footer's
    /// offset: no read is sized by a length the file cannot hold.
    fn decode_fences(&mut self, limit: u64) -> Result<()> {
        let mut it = BlockIter::new(self.index.clone())?;
        it.seek_to_first();
        while it.valid() {
            let mut r = Reader::new(it.value());
            let (offset, len) = (r.varint()?, r.varint()?);
            if offset
                .checked_add(len)
                .and_then(|e| e.checked_add(BLOCK_TRAILER as u64))
                .is_none_or(|e| e > limit)
            {
                return Err(Error::corrupt("data block handle outside the file"));
            }
            self.fence_keys.extend_from_slice(it.key());
            self.fences.push((self.fence_keys.len(), offset, len));
            it.next();
        }
        it.status()?;
        let n = self.fences.len();
        if n > 0 {
            // Every fence between two sorted fences shares their common prefix.
            let (first, last) = (n / 8, n - 1 - n / 8);
            let a = ikey::user_key(self.fence_key(first));
            let b = ikey::user_key(self.fence_key(last));
            let len = crate::sst::block::common_prefix(a, b);
            self.fence_common = a[..len].to_vec();
            self.common_head = ikey::prefix_u64(&self.fence_common);
            let has = |i: usize| ikey::user_key(self.fence_key(i)).starts_with(&self.fence_common);
            let lo = (0..first).rev().take_while(|&i| has(i)).count();
            let hi = (last + 1..n).take_while(|&i| has(i)).count();
            self.common_range = (first - lo, last + 1 + hi);
        }
        let (from, to) = self.common_range;
        self.fence_prefix = (0..n)
            .map(|i| match i {
                i if i < from => 0,
                i if i >= to => u64::MAX,
                i => prefix_after(ikey::user_key(self.fence_key(i)), self.fence_common.len()),
            })
            .collect();
        self.fence_sample = self.fence_prefix.iter().step_by(SAMPLE).copied().collect();
        Ok(())
    }

    fn fence_key(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.fences[i - 1].0 };
        &self.fence_keys[start..self.fences[i].0]
    }

    /// `user[..c].cmp(fence_common)` for the common prefix's length `c`; None when
    /// `user` is shorter than that. A prefix of up to 8 bytes is compared as an
    /// integer, from `common_head`.
    fn common_cmp(&self, user: &[u8]) -> Option<std::cmp::Ordering> {
        head_cmp(user, &self.fence_common, self.common_head)
    }

    fn first_fence_at_or_after(&self, target: &[u8]) -> usize {
        // Fences whose prefix is below the target's hold smaller keys, those above hold
        // larger ones (order-preserving: docs in `prefix_after`); whole keys are
        // compared only in between.
        let user = ikey::user_key(target);
        let c = self.fence_common.len();
        let (from, to) = self.common_range;
        let (mut lo, mut hi) = match self.common_cmp(user) {
            Some(std::cmp::Ordering::Equal) => equal_run(
                &self.fence_prefix,
                &self.fence_sample,
                prefix_after(user, c),
            ),
            // Above every fence with the prefix: the answer is at or after them.
            Some(std::cmp::Ordering::Greater) => (to, self.fences.len()),
            // Shorter than the common prefix, or below it: at or before them.
            _ if user < self.fence_common.as_slice() => (0, from),
            _ => (0, self.fences.len()),
        };
        while lo < hi {
            let mid = (lo + hi) / 2;
            if ikey::compare(self.fence_key(mid), target) == std::cmp::Ordering::Less {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Data block `b` in the mapping, CRC-checked on its first use; `None` without a
    /// mapping.
    fn mapped_block(&self, b: usize) -> Result<Option<&[u8]>> {
        let (Some(map), Some(&(_, offset, len))) = (&self.map, self.fences.get(b)) else {
            return Ok(None);
        };
        let (start, len) = (offset as usize, len as usize);
        let end = start
            .checked_add(len)
            .and_then(|e| e.checked_add(BLOCK_TRAILER));
        let Some(raw) = end.and_then(|end| map.get(start..end)) else {
            return Err(Error::corrupt_at(
                &self.path,
                offset,
                "block runs past the end of the file",
            ));
        };
        let (word, bit) = (&self.verified[b / 64], 1u64 << (b % 64));
        if word.load(Ordering::Relaxed) & bit == 0 {
            self.checked_body(raw, offset)?;
            word.fetch_or(bit, Ordering::Relaxed);
        }
        Ok(Some(&raw[..len]))
    }

    /// The body of `raw` (a block followed by its CRC trailer), if the CRC matches.
    fn checked_body<'a>(&self, raw: &'a [u8], offset: u64) -> Result<&'a [u8]> {
        let body = raw.len().saturating_sub(BLOCK_TRAILER);
        let stored = u32_at(raw, body).unwrap_or(0);
        let got = masked_crc(&[&raw[..body]]);
        if stored != got {
            return Err(Error::ChecksumMismatch {
                file: self.path.clone(),
                offset,
                expected: stored,
                got,
            });
        }
        Ok(&raw[..body])
    }

    pub(crate) fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// Read and verify one block (without the cache).
    fn read_raw(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let n = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(BLOCK_TRAILER))
            .ok_or_else(|| Error::corrupt_at(&self.path, offset, "block length too large"))?;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::corrupt_at(&self.path, offset, "block runs past the end of the file")
            } else {
                Error::io(format!("read {} at {offset}", self.path.display()), e)
            }
        })?;
        let body = self.checked_body(&buf, offset)?.len();
        buf.truncate(body);
        Ok(buf)
    }

    fn read_block(&self, handle: &[u8], fill_cache: bool) -> Result<Arc<[u8]>> {
        let mut r = Reader::new(handle);
        let (offset, len) = (r.varint()?, r.varint()?);
        self.read_block_at(offset, len, fill_cache)
    }

    fn read_block_at(&self, offset: u64, len: u64, fill_cache: bool) -> Result<Arc<[u8]>> {
        if let Some(b) = self.cache.get(self.number, offset) {
            return Ok(b);
        }
        let block: Arc<[u8]> = self.read_raw(offset, len)?.into();
        if fill_cache {
            self.cache.insert(self.number, offset, block.clone());
        }
        Ok(block)
    }

    fn block_iter(&self, handle: &[u8], fill_cache: bool) -> Result<BlockIter> {
        let block = self.read_block(handle, fill_cache)?;
        BlockIter::new(block).map_err(|e| e.in_file(&self.path))
    }

    /// The first entry `>= target` if it belongs to `user_key`.
    /// Start loading the part of the bloom filter [`Table::get`] will probe for `hash`.
    #[inline]
    pub(crate) fn prefetch_filter(&self, hash: u64) {
        bloom::prefetch(&self.filter, hash);
    }

    pub(crate) fn get(&self, target: &[u8], user_key: &[u8], hash: u64) -> Result<Lookup> {
        if !self.may_contain(hash) {
            return Ok(Lookup::Absent);
        }
        let Some(b) = self.locate(target) else {
            return Ok(Lookup::Absent);
        };
        // Not `block_iter_at`: an iterator over a plain slice, with no variant to
        // match at each of its reads, for the common single-key path.
        match self.mapped_block(b)? {
            Some(block) => self.lookup(BlockIter::new(block), target, user_key),
            None => self.lookup(self.block_iter_at(b), target, user_key),
        }
    }

    // The stages of `get`, for lookups of many keys that interleave them
    // (`Inner::get_many_at`): each stage starts loading what the next one reads, so
    // the cache misses of different keys overlap instead of queueing.

    /// May the table hold the key with bloom hash `hash`?
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        bloom::may_contain(&self.filter, hash)
    }

    /// Start loading the run of `fence_prefix` that [`Table::locate`] searches for
    /// `user_key` (eight cache lines at most).
    pub(crate) fn prefetch_fences(&self, user_key: &[u8]) {
        let c = self.fence_common.len();
        if self.common_cmp(user_key) != Some(std::cmp::Ordering::Equal) {
            return;
        }
        let p = prefix_after(user_key, c);
        let j = self.fence_sample.partition_point(|&x| x < p);
        let start = j.saturating_sub(1) * SAMPLE;
        let end = (j * SAMPLE).min(self.fence_prefix.len());
        if let Some(run) = self.fence_prefix.get(start..end) {
            // Every line the run touches, its last one included when it is not aligned.
            for i in (0..run.len()).step_by(8).chain(run.len().checked_sub(1)) {
                crate::sst::prefetch(&run[i]);
            }
        }
    }

    /// The data block that holds the first entry `>= target`, if any does: the first
    /// block whose last key is `>= target`.
    pub(crate) fn locate(&self, target: &[u8]) -> Option<usize> {
        let b = self.first_fence_at_or_after(target);
        (b < self.fences.len()).then_some(b)
    }

    /// Start loading where data block `b` is in the file.
    pub(crate) fn prefetch_fence(&self, b: usize) {
        if let Some(f) = self.fences.get(b) {
            crate::sst::prefetch(f);
        }
    }

    /// Start loading the end of data block `b` (its restart array), which
    /// [`BlockIter::new`] reads first; nothing when the table is not mapped.
    pub(crate) fn prefetch_block_end(&self, b: usize) {
        let (Some(map), Some(&(_, offset, len))) = (&self.map, self.fences.get(b)) else {
            return;
        };
        // The handle comes from the file: no arithmetic on it may overflow.
        let Some(end) = offset
            .checked_add(len)
            .and_then(|e| usize::try_from(e).ok())
        else {
            return;
        };
        for back in [4, 68] {
            if let Some(at) = end.checked_sub(back).and_then(|a| map.get(a..end)) {
                crate::sst::prefetch_line(at);
            }
        }
    }

    /// An iterator over data block `b` (an index [`Table::locate`] gave), from the
    /// mapping or through the block cache.
    pub(crate) fn block_iter_at(&self, b: usize) -> Result<BlockIter<BlockBytes<'_>>> {
        let block = match self.mapped_block(b)? {
            Some(block) => BlockBytes::Mapped(block),
            None => {
                let Some(&(_, offset, len)) = self.fences.get(b) else {
                    return Err(Error::corrupt_at(&self.path, 0, "no such data block"));
                };
                BlockBytes::Cached(self.read_block_at(offset, len, true)?)
            }
        };
        BlockIter::new(block).map_err(|e| e.in_file(&self.path))
    }

    /// The first entry `>= target` in one block, if it belongs to `user_key`.
    pub(crate) fn lookup<D: AsRef<[u8]> + Send>(
        &self,
        data: Result<BlockIter<D>>,
        target: &[u8],
        user_key: &[u8],
    ) -> Result<Lookup> {
        self.lookup_with(data, target, user_key, <[u8]>::to_vec)
    }

    /// [`Table::lookup`] that hands a found value to `read` in place instead of
    /// copying it.
    pub(crate) fn lookup_with<D: AsRef<[u8]> + Send, V>(
        &self,
        data: Result<BlockIter<D>>,
        target: &[u8],
        user_key: &[u8],
        read: impl FnOnce(&[u8]) -> V,
    ) -> Result<Lookup<V>> {
        let mut data = data.map_err(|e| e.in_file(&self.path))?;
        data.seek(target);
        if !data.valid() {
            return data
                .status()
                .map(|_| Lookup::Absent)
                .map_err(|e| e.in_file(&self.path));
        }
        let p = ikey::parse(data.key()).map_err(|e| e.in_file(&self.path))?;
        if p.user_key != user_key {
            return Ok(Lookup::Absent);
        }
        Ok(match p.kind {
            ikey::Kind::Value => Lookup::Found(p.seq, read(data.value())),
            ikey::Kind::Delete => Lookup::Deleted(p.seq),
        })
    }

    /// Iterator over every entry.
    pub(crate) fn iter(self: &Arc<Self>, fill_cache: bool) -> Box<dyn InternalIterator> {
        let index = match BlockIter::new(self.index.clone()) {
            Ok(i) => i,
            Err(e) => return Box::new(crate::iter::ErrorIter(Some(e.in_file(&self.path)))),
        };
        let table = Arc::clone(self);
        let mapped = fill_cache && self.map.is_some();
        let mut chunk = Chunk::default();
        Box::new(TwoLevelIterator::new(
            Box::new(index),
            move |handle: &[u8]| {
                if mapped {
                    let mut r = Reader::new(handle);
                    let offset = r.varint()?;
                    let b = table
                        .fences
                        .binary_search_by_key(&offset, |f| f.1)
                        .map_err(|_| {
                            Error::corrupt_at(&table.path, offset, "index names no block here")
                        })?;
                    let len = table.mapped_block(b)?.map_or(0, <[u8]>::len);
                    let block = MappedBlock {
                        table: Arc::clone(&table),
                        start: offset as usize,
                        end: offset as usize + len,
                    };
                    let it: Box<dyn InternalIterator> =
                        Box::new(BlockIter::new(block).map_err(|e| e.in_file(&table.path))?);
                    return Ok(it);
                }
                if !fill_cache {
                    let mut r = Reader::new(handle);
                    let (offset, len) = (r.varint()?, r.varint()?);
                    let it: Box<dyn InternalIterator> =
                        Box::new(table.chunked_block(&mut chunk, offset, len)?);
                    return Ok(it);
                }
                let it: Box<dyn InternalIterator> = Box::new(table.block_iter(handle, fill_cache)?);
                Ok(it)
            },
        ))
    }

    /// The data block at `offset` (`len` bytes before its trailer), CRC-checked, for a
    /// scan that skips the block cache: from `c` when it holds it; a block right after
    /// the last one read refills `c` from there, with the blocks that follow (up to
    /// `CHUNK_BYTES`); any other block is read alone.
    fn chunked_block(&self, c: &mut Chunk, offset: u64, len: u64) -> Result<BlockIter<ChunkBlock>> {
        let too_large = || Error::corrupt_at(&self.path, offset, "block length too large");
        let need = usize::try_from(len)
            .ok()
            .and_then(|n| n.checked_add(BLOCK_TRAILER))
            .ok_or_else(too_large)?;
        let held = offset
            .checked_sub(c.at)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s.checked_add(need).is_some_and(|e| e <= c.buf.len()));
        let start = match held {
            Some(s) => s,
            None => {
                // The data blocks end where the last one's trailer does.
                let data_end = self.fences.last().map_or(0, |&(_, o, l)| {
                    o.saturating_add(l).saturating_add(BLOCK_TRAILER as u64)
                });
                let room = usize::try_from(data_end.saturating_sub(offset)).unwrap_or(usize::MAX);
                let want = if offset == c.next {
                    room.min(CHUNK_BYTES).max(need)
                } else {
                    need
                };
                // The buffer is reused when no block of the last chunk is still held.
                let mut buf = Arc::get_mut(&mut c.buf)
                    .map(std::mem::take)
                    .unwrap_or_default();
                buf.resize(want, 0);
                // (`open` checked that every data block, so `data_end`, is in the file.)
                let read = self.file.read_exact_at(&mut buf, offset);
                c.buf = Arc::new(buf);
                c.at = offset;
                read.map_err(|e| {
                    c.buf = Arc::default();
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        Error::corrupt_at(&self.path, offset, "block runs past the end of the file")
                    } else {
                        Error::io(format!("read {} at {offset}", self.path.display()), e)
                    }
                })?;
                0
            }
        };
        let body = self
            .checked_body(&c.buf[start..start + need], offset)?
            .len();
        c.next = offset + need as u64;
        let block = ChunkBlock {
            buf: Arc::clone(&c.buf),
            start,
            end: start + body,
        };
        BlockIter::new(block).map_err(|e| e.in_file(&self.path))
    }
}

/// Consecutive data blocks a scan that skips the block cache (compaction) reads with
/// one `pread` (`Table::chunked_block`): a 4 KiB block per system call cost compaction
/// about a sixth of its time.
const CHUNK_BYTES: usize = 256 << 10;

/// What `Table::chunked_block` last read: `buf` holds the file's bytes from `at`.
#[derive(Default)]
struct Chunk {
    at: u64,
    buf: Arc<Vec<u8>>,
    /// Where the last block handed out ends (its trailer included).
    next: u64,
}

/// A checked data block inside a `Chunk`'s buffer, which it keeps alive.
struct ChunkBlock {
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for ChunkBlock {
    fn as_ref(&self) -> &[u8] {
        // Bounds were checked by `chunked_block` when this was made.
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }
}

/// A data block's bytes: borrowed from the table's mapping, or a block read into the
/// cache.
pub(crate) enum BlockBytes<'a> {
    Mapped(&'a [u8]),
    Cached(Arc<[u8]>),
}

impl AsRef<[u8]> for BlockBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            BlockBytes::Mapped(b) => b,
            BlockBytes::Cached(b) => b,
        }
    }
}

/// A checked data block inside a table's mapping, kept alive by the table.
struct MappedBlock {
    table: Arc<Table>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MappedBlock {
    fn as_ref(&self) -> &[u8] {
        // Bounds were checked by `mapped_block` when this was made.
        self.table
            .map
            .as_deref()
            .and_then(|m| m.get(self.start..self.end))
            .unwrap_or(&[])
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file left behind is removed as garbage at the next open.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikey::{encode, seek_key, Kind};
    use crate::sst::builder::TableBuilder;
    use crate::testutil::{xorshift, TempDir};

    /// The integer comparison of a common prefix of up to 8 bytes (and the slice
    /// comparison of a longer one) gives what comparing the slices gives.
    #[test]
    fn head_comparison_is_the_slice_comparison() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        // Few distinct bytes, so that equal prefixes are common.
        let mut bytes = |n: u64| -> Vec<u8> {
            (0..n)
                .map(|_| b"\0ab\xff"[(xorshift(&mut seed) % 4) as usize])
                .collect()
        };
        for i in 0..20_000u64 {
            let common = bytes(i % 11);
            let user = bytes((i / 11) % 13);
            let want = user.get(..common.len()).map(|u| u.cmp(&common));
            let head = ikey::prefix_u64(&common);
            assert_eq!(
                head_cmp(&user, &common, head),
                want,
                "{user:?} vs {common:?}"
            );
        }
    }

    /// The sampled search gives what two plain searches of the whole array give, for
    /// arrays of every length around the stride, with long runs of equal entries.
    #[test]
    fn equal_run_matches_plain_partition_points() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || xorshift(&mut seed);
        for len in (0..200).chain([640, 1000, 4097]) {
            for spread in [3u64, 50, 1 << 40] {
                let mut all: Vec<u64> = (0..len).map(|_| next() % spread).collect();
                all.sort_unstable();
                let sample: Vec<u64> = all.iter().step_by(SAMPLE).copied().collect();
                for p in (0..spread.min(60))
                    .chain([spread, u64::MAX])
                    .chain(all.iter().copied().take(50))
                {
                    let lo = all.partition_point(|&x| x < p);
                    let hi = lo + all[lo..].partition_point(|&x| x == p);
                    assert_eq!(equal_run(&all, &sample, p), (lo, hi), "len {len} p {p}");
                }
            }
        }
    }

    /// Tables built one after the other on one thread (which lends each build the
    /// last one's buffers) hold only their own keys: a small table after a large one
    /// iterates, finds and filters as if built alone.
    #[test]
    fn consecutive_builds_share_nothing_but_buffers() {
        let dir = TempDir::new("consecutive");
        let build = |name: &str, keys: &[Vec<u8>]| {
            let path = dir.path().join(name);
            let mut b = TableBuilder::create(&path, 256, 10).unwrap();
            for k in keys {
                b.add(&encode(k, 1, Kind::Value), b"v").unwrap();
            }
            b.finish().unwrap();
            let cache = Arc::new(BlockCache::new(1 << 20));
            Arc::new(Table::open(&path, 1, cache, false).unwrap())
        };
        let big: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| format!("a{i:05}").into_bytes())
            .collect();
        let small: Vec<Vec<u8>> = (0..10u32)
            .map(|i| format!("b{i:02}").into_bytes())
            .collect();
        build("1.sst", &big);
        let t = build("2.sst", &small);
        let mut it = t.iter(false);
        it.seek_to_first();
        let mut got = Vec::new();
        while it.valid() {
            got.push(ikey::user_key(it.key()).to_vec());
            it.next();
        }
        assert_eq!(got, small);
        for k in &small {
            let hash = bloom::hash64(k);
            assert!(matches!(
                t.get(&seek_key(k, 1), k, hash).unwrap(),
                Lookup::Found(..)
            ));
        }
        // The big table's keys pass the small one's filter no more often than a
        // filter's false positives would (its hashes did not stay behind).
        let passed = big
            .iter()
            .filter(|k| t.may_contain(bloom::hash64(k)))
            .count();
        assert!(
            passed < big.len() / 10,
            "{passed} of the big table's keys pass"
        );
    }

    /// A data block handle the file cannot hold (possible only in a crafted table: the
    /// index is CRC-checked) is refused at open, before any read is sized by it.
    #[test]
    fn data_block_handles_must_lie_in_the_file() {
        let dir = TempDir::new("handles");
        let path = dir.path().join("1.sst");
        let mut b = TableBuilder::create(&path, 256, 10).unwrap();
        for i in 0..200u32 {
            b.add(
                &encode(format!("k{i:04}").as_bytes(), 1, Kind::Value),
                &[7; 50],
            )
            .unwrap();
        }
        b.finish().unwrap();
        let cache = Arc::new(BlockCache::new(1 << 20));
        let mut t = Table::open(&path, 1, cache, false).unwrap();
        let (_, o, l) = *t.fences.last().unwrap();
        let end = o + l + BLOCK_TRAILER as u64;
        for limit in [end, end + 1] {
            t.fences.clear();
            t.fence_keys.clear();
            assert!(t.decode_fences(limit).is_ok());
        }
        t.fences.clear();
        t.fence_keys.clear();
        let err = t.decode_fences(end - 1).unwrap_err();
        assert!(err.to_string().contains("outside the file"), "{err}");
    }

    /// A scan that skips the cache reads consecutive blocks a chunk at a time: a full
    /// scan, scans from seeks (a block read alone, then chunks), a block still held
    /// when the chunk after it is read, and a corrupt block all behave as reads of
    /// single blocks do.
    #[test]
    fn chunked_scans_read_what_block_reads_read() {
        let dir = TempDir::new("chunks");
        let path = dir.path().join("1.sst");
        let key = |i: u32| format!("key{i:07}").into_bytes();
        let value = |i: u32| vec![(i % 251) as u8; 100 + (i % 50) as usize];
        let n = 9000u32;
        let mut b = TableBuilder::create(&path, 4096, 10).unwrap();
        for i in 0..n {
            b.add(&encode(&key(i), 1, Kind::Value), &value(i)).unwrap();
        }
        b.finish().unwrap();
        let cache = Arc::new(BlockCache::new(1 << 20));
        for mmap in [true, false] {
            let t = Arc::new(Table::open(&path, 1, cache.clone(), mmap).unwrap());
            let data_end = t.fences.last().map(|&(_, o, l)| o + l).unwrap();
            assert!(
                data_end > 3 * CHUNK_BYTES as u64,
                "{data_end} bytes of blocks"
            );
            let mut it = t.iter(false);
            it.seek_to_first();
            for i in 0..n {
                assert!(it.valid(), "entry {i}");
                assert_eq!(ikey::user_key(it.key()), key(i).as_slice());
                assert_eq!(it.value(), value(i).as_slice());
                it.next();
            }
            assert!(!it.valid() && it.status().is_ok());
            for start in [4321u32, 17, 8990, 2500, 2501, 6000] {
                it.seek(&seek_key(&key(start), 1));
                for i in start..n.min(start + 700) {
                    assert_eq!(ikey::user_key(it.key()), key(i).as_slice(), "from {start}");
                    assert_eq!(it.value(), value(i).as_slice());
                    it.next();
                }
            }
            // A block kept across the read of the next chunk keeps its bytes.
            let mut chunk = Chunk::default();
            let (_, o0, l0) = t.fences[0];
            let mut first = t.chunked_block(&mut chunk, o0, l0).unwrap();
            assert_eq!(
                chunk.buf.len(),
                CHUNK_BYTES,
                "the first block came with a chunk"
            );
            let past = t
                .fences
                .iter()
                .position(|&(_, o, _)| o >= CHUNK_BYTES as u64)
                .unwrap();
            for &(_, o, l) in &t.fences[1..=past] {
                t.chunked_block(&mut chunk, o, l).unwrap();
            }
            assert!(chunk.at > 0, "a second chunk was read");
            first.seek_to_first();
            assert_eq!(ikey::user_key(first.key()), key(0).as_slice());
            assert_eq!(first.value(), value(0).as_slice());
        }
        // A flipped byte in a block far into the file: the scan stops with an error
        // naming the file, as a scan through the cache does.
        let mut bytes = std::fs::read(&path).unwrap();
        let t = Table::open(&path, 1, cache.clone(), false).unwrap();
        let (_, o, _) = t.fences[t.fences.len() / 2];
        drop(t);
        bytes[o as usize + 10] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let t = Arc::new(Table::open(&path, 2, cache, false).unwrap());
        let mut it = t.iter(false);
        it.seek_to_first();
        let mut seen = 0;
        while it.valid() {
            seen += 1;
            it.next();
        }
        let err = it.status().unwrap_err();
        assert!(matches!(err, Error::ChecksumMismatch { .. }), "{err}");
        assert!(err.to_string().contains("1.sst"), "{err}");
        assert!(seen > 0 && seen < n as usize, "{seen}");
    }

    /// The fence search (common prefix, then 8-byte prefixes, then whole keys) finds
    /// every key of tables whose keys share long prefixes, short ones or none, and
    /// answers absent for targets below, inside and above the common prefix.
    #[test]
    fn fence_search_finds_every_key_whatever_the_prefixes() {
        let dir = TempDir::new("fences");
        let shapes: Vec<Vec<Vec<u8>>> = vec![
            // A long common prefix, then digits.
            (0..3000u32)
                .map(|i| format!("user:profile:{i:08}").into_bytes())
                .collect(),
            // Slot-like 2-byte prefixes, keys of every length from 0 bytes after them.
            (0..3000u32)
                .map(|i| {
                    let mut k = vec![(i % 7) as u8, (i % 5) as u8];
                    k.extend(std::iter::repeat_n(b'x', (i % 13) as usize));
                    k.extend_from_slice(&i.to_be_bytes());
                    k
                })
                .collect(),
            // Keys shorter than 8 bytes, some a prefix of others.
            (0..3000u32)
                .map(|i| format!("{:x}", i * 7).into_bytes())
                .collect(),
            // One collection's long prefix in the middle, other keys at both ends (the
            // common prefix is the middle's, not the first and last keys').
            (0..40u32)
                .map(|i| format!("a{i}").into_bytes())
                .chain((0..3000u32).map(|i| format!("coll:profile:long:{i:08}").into_bytes()))
                .chain((0..40u32).map(|i| format!("z{i}").into_bytes()))
                .collect(),
        ];
        for (n, mut keys) in shapes.into_iter().enumerate() {
            keys.sort();
            keys.dedup();
            let path = dir.path().join(format!("{n}.sst"));
            let mut b = TableBuilder::create(&path, 256, 10).unwrap();
            for (i, k) in keys.iter().enumerate() {
                b.add(&encode(k, i as u64 + 1, Kind::Value), k).unwrap();
            }
            b.finish().unwrap();
            let cache = Arc::new(BlockCache::new(1 << 20));
            for mmap in [true, false] {
                let t = Table::open(&path, 1, cache.clone(), mmap).unwrap();
                assert!(t.fences.len() > 50, "{} blocks", t.fences.len());
                if n == 3 {
                    assert!(t.fence_common.starts_with(b"coll:profile:long:0000"));
                    let (from, to) = t.common_range;
                    assert!(from > 0 && to < t.fences.len(), "{from}..{to}");
                }
                for k in &keys {
                    let h = bloom::hash64(k);
                    match t.get(&seek_key(k, 1 << 40), k, h).unwrap() {
                        Lookup::Found(_, v) => assert_eq!(&v, k),
                        other => panic!("{k:?}: {other:?}"),
                    }
                }
                let mut absent: Vec<Vec<u8>> = vec![
                    vec![],
                    vec![0],
                    b"user".to_vec(),
                    b"user:profile:".to_vec(),
                    b"user:profile:99999999".to_vec(),
                    b"zzz".to_vec(),
                    b"b".to_vec(),
                    b"coll".to_vec(),
                    b"coll:profile:long:".to_vec(),
                    b"coll:profile:long:99999999".to_vec(),
                    b"coll:profile:long:\xff".to_vec(),
                    b"y".to_vec(),
                    vec![0xff; 20],
                ];
                absent.extend(keys.iter().map(|k| [k.as_slice(), b"\x00"].concat()));
                for k in absent.iter().filter(|k| keys.binary_search(k).is_err()) {
                    let target = seek_key(k, 1 << 40);
                    // Whatever the filter says, the search itself must not find it.
                    let b = t.first_fence_at_or_after(&target);
                    let want = (0..t.fences.len())
                        .find(|&i| ikey::compare(t.fence_key(i), &target).is_ge())
                        .unwrap_or(t.fences.len());
                    assert_eq!(b, want, "{k:?}");
                }
            }
        }
    }
}
