//! Reads an SST through `pread` and the block cache.
//!
//! Thread-safety: a `Table` is shared by all readers (`Arc<Table>`); every method takes
//! `&self`. Invariants:
//! 1. The file is never modified after it is written; it is unlinked only when the last
//!    `Arc<Table>` is dropped after compaction marked it obsolete.
//! 2. The index block and the bloom filter are read and checked once, at open.
//! 3. Every block read is checked against its CRC; a mismatch is an error naming the file
//!    and offset, never data.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
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
    filter: Vec<u8>,
    cache: Arc<BlockCache>,
    /// Set when compaction replaced this table: the file is unlinked on drop.
    obsolete: AtomicBool,
}

impl Table {
    pub(crate) fn open(path: &Path, number: u64, cache: Arc<BlockCache>) -> Result<Table> {
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
            filter: Vec::new(),
            cache,
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
        BlockIter::new(t.index.clone()).map_err(|e| e.in_file(path))?;
        Ok(t)
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
        let body = n - BLOCK_TRAILER;
        let stored = u32_at(&buf, body).unwrap_or(0);
        let got = masked_crc(&[&buf[..body]]);
        if stored != got {
            return Err(Error::ChecksumMismatch {
                file: self.path.clone(),
                offset,
                expected: stored,
                got,
            });
        }
        buf.truncate(body);
        Ok(buf)
    }

    fn read_block(&self, handle: &[u8], fill_cache: bool) -> Result<Arc<[u8]>> {
        let mut r = Reader::new(handle);
        let (offset, len) = (r.varint()?, r.varint()?);
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
    pub(crate) fn get(&self, target: &[u8], user_key: &[u8], hash: u64) -> Result<Lookup> {
        if !bloom::may_contain(&self.filter, hash) {
            return Ok(Lookup::Absent);
        }
        let mut index = BlockIter::new(self.index.clone())?;
        index.seek(target);
        if !index.valid() {
            return index
                .status()
                .map(|_| Lookup::Absent)
                .map_err(|e| e.in_file(&self.path));
        }
        let mut data = self.block_iter(index.value(), true)?;
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
            ikey::Kind::Value => Lookup::Found(p.seq, data.value().to_vec()),
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
        Box::new(TwoLevelIterator::new(
            Box::new(index),
            move |handle: &[u8]| {
                let it: Box<dyn InternalIterator> = Box::new(table.block_iter(handle, fill_cache)?);
                Ok(it)
            },
        ))
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
