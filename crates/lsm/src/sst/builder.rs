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
    last_user_key: Vec<u8>,
    smallest: Vec<u8>,
    last_key: Vec<u8>,
    entries: u64,
    max_seq: u64,
}

impl TableBuilder {
    pub(crate) fn create(path: &Path, block_size: usize, bits_per_key: usize) -> Result<Self> {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
        Ok(TableBuilder {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, f),
            offset: 0,
            data: BlockBuilder::new(16),
            index: BlockBuilder::new(1),
            block_size,
            bits_per_key,
            hashes: Vec::new(),
            last_user_key: Vec::new(),
            smallest: Vec::new(),
            last_key: Vec::new(),
            entries: 0,
            max_seq: 0,
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
        if self.entries == 0 {
            self.smallest = ikey_bytes.to_vec();
        }
        let uk = ikey::user_key(ikey_bytes);
        if let Ok(p) = ikey::parse(ikey_bytes) {
            self.max_seq = self.max_seq.max(p.seq);
        }
        if self.entries == 0 || uk != self.last_user_key.as_slice() {
            self.hashes.push(bloom::hash64(uk));
            self.last_user_key.clear();
            self.last_user_key.extend_from_slice(uk);
        }
        self.data.add(ikey_bytes, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey_bytes);
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
        Ok((at, block.len() as u64))
    }

    fn flush_data_block(&mut self) -> Result<()> {
        if self.data.is_empty() {
            return Ok(());
        }
        let block = self.data.finish();
        let (at, len) = self.write_block(&block)?;
        let mut handle = Vec::with_capacity(10);
        put_varint(&mut handle, at);
        put_varint(&mut handle, len);
        let last = std::mem::take(&mut self.last_key);
        self.index.add(&last, &handle);
        self.last_key = last;
        Ok(())
    }

    /// Write filter, index and footer; fsync. Returns what the table holds.
    pub(crate) fn finish(mut self) -> Result<Built> {
        self.flush_data_block()?;
        let filter = bloom::build(&self.hashes, self.bits_per_key);
        let (filter_off, filter_len) = self.write_block(&filter)?;
        let index = self.index.finish();
        let (index_off, index_len) = self.write_block(&index)?;
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
            largest: self.last_key,
            max_seq: self.max_seq,
        })
    }
}
