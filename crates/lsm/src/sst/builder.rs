//! Writes an SST (format in `sst/mod.rs` and `docs/lsm-format.md`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::coding::{masked_crc, put_varint};
use crate::error::{Error, Result};
use crate::ikey;
use crate::sst::block::BlockBuilder;
use crate::sst::{bloom, FOOTER_LEN, FORMAT_VERSION, MAGIC};

/// What a finished table holds.
pub(crate) struct Built {
    pub size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    /// Largest sequence number of any entry.
    pub max_seq: u64,
}

pub(crate) struct TableBuilder {
    path: PathBuf,
    out: BufWriter<File>,
    offset: u64,
    data: BlockBuilder,
    index: BlockBuilder,
    block_size: usize,
    bits_per_key: usize,
    hashes: Vec<u64>,
    /// Where the filter is built (a buffer from the thread's last build).
    filter: Vec<u8>,
    smallest: Vec<u8>,
    entries: u64,
    max_seq: u64,
    /// Bytes before this offset were handed to writeback (`start_writeback`).
    writeback_from: u64,
}

/// The buffers a table build grows with the table (key hashes for its filter, the
/// filter, the index block), kept by the thread for its next build. Grown afresh on
/// every build, they faulted in new, zeroed pages each time: page clearing was about
/// a sixth of the compaction thread's time under LPUSH. Empty between builds.
#[derive(Default)]
struct BuildBuffers {
    hashes: Vec<u64>,
    filter: Vec<u8>,
    index: Vec<u8>,
}

/// At most this many bytes of [`BuildBuffers`] are kept for a thread's next build.
const BUILD_BUFFERS_MAX: usize = 32 << 20;

thread_local! {
    static BUILD_BUFFERS: std::cell::Cell<BuildBuffers> = std::cell::Cell::new(BuildBuffers::default());
}

/// While a table is written, every this many bytes are handed to the disk at once
/// instead of all at the final fsync (see `start_writeback`).
const WRITEBACK_BYTES: u64 = 1 << 20;

impl TableBuilder {
    pub(crate) fn create(path: &Path, block_size: usize, bits_per_key: usize) -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        let bufs = BUILD_BUFFERS.with(|b| b.take());
        let index = BlockBuilder::in_buffer(1, bufs.index);
        Ok(TableBuilder {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, f),
            offset: 0,
            data: BlockBuilder::new(16),
            index,
            block_size,
            bits_per_key,
            hashes: bufs.hashes,
            filter: bufs.filter,
            smallest: Vec::new(),
            entries: 0,
            max_seq: 0,
            writeback_from: 0,
        })
    }

    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes the file would have if finished now (approximately).
    pub(crate) fn estimated_size(&self) -> u64 {
        self.offset + self.data.estimated_size() as u64
    }

    /// Add an entry; internal keys must arrive in increasing order.
    pub(crate) fn add(&mut self, ikey_bytes: &[u8], value: &[u8]) -> Result<()> {
        self.add_inner(ikey_bytes, value, false)
    }

    /// [`TableBuilder::add`] of an entry whose user key must be above the last entry's
    /// (`Error::InvalidArgument` otherwise, and nothing is added).
    pub(crate) fn add_new_key(&mut self, ikey_bytes: &[u8], value: &[u8]) -> Result<()> {
        self.add_inner(ikey_bytes, value, true)
    }

    fn add_inner(&mut self, ikey_bytes: &[u8], value: &[u8], must_follow: bool) -> Result<()> {
        if ikey_bytes.len() < ikey::TRAILER {
            // Only a corrupt input table can hand a compaction such a key.
            return Err(Error::corrupt("internal key shorter than its trailer"));
        }
        // One pass over the previous key serves the block's prefix compression, the
        // filter's "new user key" test and the order check.
        let last = self.data.last_key();
        let common = crate::sst::block::common_prefix(last, ikey_bytes);
        let uk = ikey::user_key(ikey_bytes);
        let new_user_key = if self.entries == 0 {
            true
        } else {
            let last_uk = ikey::user_key(last);
            let follows = if common >= uk.len().min(last_uk.len()) {
                uk.len() > last_uk.len()
            } else {
                uk[common] > last_uk[common]
            };
            if must_follow && !follows {
                return Err(Error::InvalidArgument(
                    "keys must be added in strictly increasing order".into(),
                ));
            }
            follows || uk.len() != last_uk.len() || common < uk.len()
        };
        if self.entries == 0 {
            self.smallest = ikey_bytes.to_vec();
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&ikey_bytes[uk.len()..]);
        self.max_seq = self.max_seq.max(!u64::from_be_bytes(t) >> 8);
        if new_user_key {
            self.hashes.push(bloom::hash64(uk));
        }
        self.data.add_with_common(ikey_bytes, value, common);
        self.entries += 1;
        if self.data.estimated_size() >= self.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    fn write_block(&mut self, block: &[u8]) -> Result<(u64, u64)> {
        let crc = masked_crc(&[block]);
        let at = self.offset;
        self.out
            .write_all(block)
            .and_then(|_| self.out.write_all(&crc.to_le_bytes()))
            .map_err(|e| Error::io(format!("write {}", self.path.display()), e))?;
        self.offset += block.len() as u64 + 4;
        self.start_writeback();
        Ok((at, block.len() as u64))
    }

    /// Start writing out (without waiting) what the kernel holds of the file once a
    /// megabyte has gathered, as RocksDB's `bytes_per_sync` does: the disk then works
    /// while the rest of the table is built, and the final fsync waits for the last
    /// megabyte instead of all of it. A hint: a failure here is ignored, as the fsync
    /// at `finish` reports any real one.
    fn start_writeback(&mut self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let written = self.offset - self.out.buffer().len() as u64;
            if written >= self.writeback_from + WRITEBACK_BYTES {
                let (from, len) = (self.writeback_from, written - self.writeback_from);
                // SAFETY: the descriptor is open (owned by `self.out`), and
                // sync_file_range reads and writes no memory of this process.
                unsafe {
                    libc::sync_file_range(
                        self.out.get_ref().as_raw_fd(),
                        from as libc::off64_t,
                        len as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                }
                self.writeback_from = written;
            }
        }
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let block = self.data.finish();
        let (at, len) = self.write_block(&block)?;
        self.data.recycle(block);
        let mut handle = Vec::with_capacity(10);
        put_varint(&mut handle, at);
        put_varint(&mut handle, len);
        self.index.add(self.data.last_key(), &handle);
        Ok(())
    }

    /// Write filter, index and footer; fsync. Returns what the table holds.
    pub(crate) fn finish(mut self) -> Result<Built> {
        self.flush_data_block()?;
        let mut filter = std::mem::take(&mut self.filter);
        bloom::build_into(&self.hashes, self.bits_per_key, &mut filter);
        let (filter_off, filter_len) = self.write_block(&filter)?;
        let index = self.index.finish();
        let (index_off, index_len) = self.write_block(&index)?;
        let mut bufs = BuildBuffers {
            hashes: std::mem::take(&mut self.hashes),
            filter,
            index,
        };
        if bufs.hashes.capacity() * 8 + bufs.filter.capacity() + bufs.index.capacity()
            <= BUILD_BUFFERS_MAX
        {
            bufs.hashes.clear();
            bufs.filter.clear();
            bufs.index.clear();
            BUILD_BUFFERS.with(|b| b.set(bufs));
        }
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        for v in [index_off, index_len, filter_off, filter_len, self.entries] {
            footer.extend_from_slice(&v.to_le_bytes());
        }
        footer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let crc = masked_crc(&[&footer]);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(MAGIC);
        let path = self.path.clone();
        let io = |e| Error::io(format!("finish {}", path.display()), e);
        self.out.write_all(&footer).map_err(io)?;
        self.offset += FOOTER_LEN as u64;
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(Built {
            size: self.offset,
            smallest: self.smallest,
            largest: self.data.last_key().to_vec(),
            max_seq: self.max_seq,
        })
    }
}
