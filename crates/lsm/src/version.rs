//! Versions (the set of live SSTs per level plus range tombstones) and version edits,
//! the records of the manifest.
//!
//! A manifest is a log (`log.rs` framing) of version edits. Each record:
//!
//! ```text
//! format: u8 = 1 | field*
//! field = 1 varint log_number
//!       | 2 varint next_file_number
//!       | 3 varint last_sequence
//!       | 4 varint level, varint number, varint size, lp smallest, lp largest   (add file)
//!       | 5 varint level, varint number                                        (delete file)
//!       | 6 varint seq, lp start, lp end                                       (add range tombstone)
//!       | 7 varint seq                                                         (retire range tombstone)
//! lp = varint length | bytes
//! ```
//! Replaying every edit of the manifest named by `CURRENT` in order gives the state.
//!
//! Thread-safety: a `Version` is immutable once built and shared as `Arc<Version>`;
//! readers and iterators hold the `Arc`, which keeps its tables' files alive.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::coding::{put_length_prefixed, put_varint, Reader};
use crate::error::{Error, Result};
use crate::ikey;
use crate::range_del::RangeTombstone;
use crate::sst::table::Table;

/// Number of levels (L0..L6).
pub const NUM_LEVELS: usize = 7;

const EDIT_FORMAT: u8 = 1;

/// One live SST.
pub(crate) struct FileMeta {
    pub number: u64,
    pub size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    /// Largest sequence number in the file ([`UNKNOWN_SEQ`] for files recorded before
    /// the manifest kept it).
    pub max_seq: u64,
    pub table: Arc<Table>,
    /// [`ikey::prefix_u64`] of the smallest and largest user keys: most range checks are
    /// decided by comparing these, without touching the keys.
    pub bounds8: (u64, u64),
}

/// `a <= b`, for keys whose [`ikey::prefix_u64`] are `a8` and `b8`.
fn at_most(a: &[u8], a8: u64, b: &[u8], b8: u64) -> bool {
    a8 < b8 || (a8 == b8 && a <= b)
}

/// `max_seq` of a file whose largest sequence number was not recorded.
pub(crate) const UNKNOWN_SEQ: u64 = u64::MAX;

impl FileMeta {
    pub(crate) fn smallest_user(&self) -> &[u8] {
        ikey::user_key(&self.smallest)
    }
    pub(crate) fn largest_user(&self) -> &[u8] {
        ikey::user_key(&self.largest)
    }
    /// Is `user_key` (whose [`ikey::prefix_u64`] is `key8`) within the file's user-key
    /// range?
    pub(crate) fn may_hold(&self, user_key: &[u8], key8: u64) -> bool {
        at_most(self.smallest_user(), self.bounds8.0, user_key, key8)
            && at_most(user_key, key8, self.largest_user(), self.bounds8.1)
    }

    /// Is the file's largest user key below `user_key` (whose [`ikey::prefix_u64`] is
    /// `key8`)?
    fn below(&self, user_key: &[u8], key8: u64) -> bool {
        !at_most(user_key, key8, self.largest_user(), self.bounds8.1)
    }

    /// Does the file's user-key range intersect `[lo, hi]` (None = unbounded)?
    pub(crate) fn overlaps(&self, lo: Option<&[u8]>, hi: Option<&[u8]>) -> bool {
        lo.is_none_or(|lo| self.largest_user() >= lo)
            && hi.is_none_or(|hi| self.smallest_user() <= hi)
    }
}

/// A file added by an edit (the table is opened when the edit is applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewFile {
    pub level: usize,
    pub number: u64,
    pub size: u64,
    pub smallest: Vec<u8>,
    pub largest: Vec<u8>,
    pub max_seq: u64,
}

/// A change to the version, as written to the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct VersionEdit {
    pub log_number: Option<u64>,
    pub next_file: Option<u64>,
    pub last_seq: Option<u64>,
    pub new_files: Vec<NewFile>,
    pub deleted: Vec<(usize, u64)>,
    pub add_range_dels: Vec<RangeTombstone>,
    pub retire_range_dels: Vec<u64>,
}

impl VersionEdit {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = vec![EDIT_FORMAT];
        for (tag, v) in [
            (1, self.log_number),
            (2, self.next_file),
            (3, self.last_seq),
        ] {
            if let Some(v) = v {
                put_varint(&mut b, tag);
                put_varint(&mut b, v);
            }
        }
        for f in &self.new_files {
            if f.max_seq == UNKNOWN_SEQ {
                put_varint(&mut b, 4);
            } else {
                put_varint(&mut b, 8);
            }
            put_varint(&mut b, f.level as u64);
            put_varint(&mut b, f.number);
            put_varint(&mut b, f.size);
            if f.max_seq != UNKNOWN_SEQ {
                put_varint(&mut b, f.max_seq);
            }
            put_length_prefixed(&mut b, &f.smallest);
            put_length_prefixed(&mut b, &f.largest);
        }
        for &(level, number) in &self.deleted {
            put_varint(&mut b, 5);
            put_varint(&mut b, level as u64);
            put_varint(&mut b, number);
        }
        for t in &self.add_range_dels {
            put_varint(&mut b, 6);
            put_varint(&mut b, t.seq);
            put_length_prefixed(&mut b, &t.start);
            put_length_prefixed(&mut b, &t.end);
        }
        for &seq in &self.retire_range_dels {
            put_varint(&mut b, 7);
            put_varint(&mut b, seq);
        }
        b
    }

    pub(crate) fn decode(rec: &[u8]) -> Result<Self> {
        let mut r = Reader::new(rec);
        let format = r.u8()?;
        if format != EDIT_FORMAT {
            return Err(Error::corrupt(format!(
                "unknown version edit format {format}"
            )));
        }
        let mut e = VersionEdit::default();
        let level = |r: &mut Reader<'_>| -> Result<usize> {
            let l = r.varint()?;
            if l >= NUM_LEVELS as u64 {
                return Err(Error::corrupt(format!("level {l} out of range")));
            }
            Ok(l as usize)
        };
        while !r.is_empty() {
            match r.varint()? {
                1 => e.log_number = Some(r.varint()?),
                2 => e.next_file = Some(r.varint()?),
                3 => e.last_seq = Some(r.varint()?),
                4 => e.new_files.push(NewFile {
                    level: level(&mut r)?,
                    number: r.varint()?,
                    size: r.varint()?,
                    max_seq: UNKNOWN_SEQ,
                    smallest: r.length_prefixed()?.to_vec(),
                    largest: r.length_prefixed()?.to_vec(),
                }),
                8 => e.new_files.push(NewFile {
                    level: level(&mut r)?,
                    number: r.varint()?,
                    size: r.varint()?,
                    max_seq: r.varint()?.min(UNKNOWN_SEQ - 1),
                    smallest: r.length_prefixed()?.to_vec(),
                    largest: r.length_prefixed()?.to_vec(),
                }),
                5 => e.deleted.push((level(&mut r)?, r.varint()?)),
                6 => e.add_range_dels.push(RangeTombstone {
                    seq: r.varint()?,
                    start: r.length_prefixed()?.to_vec(),
                    end: r.length_prefixed()?.to_vec(),
                }),
                7 => e.retire_range_dels.push(r.varint()?),
                t => return Err(Error::corrupt(format!("unknown version edit field {t}"))),
            }
        }
        Ok(e)
    }
}

/// The live files and range tombstones at one moment.
#[derive(Default)]
pub(crate) struct Version {
    /// L0 in increasing file number (oldest first); L1+ sorted by key, disjoint.
    pub levels: [Vec<Arc<FileMeta>>; NUM_LEVELS],
    pub range_dels: Vec<RangeTombstone>,
}

impl Version {
    /// A new version: this one with `edit` applied. `open` opens added tables.
    pub(crate) fn apply(
        &self,
        edit: &VersionEdit,
        mut open: impl FnMut(&NewFile) -> Result<Arc<Table>>,
    ) -> Result<Version> {
        let mut v = Version {
            levels: self.levels.clone(),
            range_dels: self.range_dels.clone(),
        };
        for &(level, number) in &edit.deleted {
            v.levels[level].retain(|f| f.number != number);
        }
        for nf in &edit.new_files {
            let table = open(nf)?;
            v.levels[nf.level].push(Arc::new(FileMeta {
                number: nf.number,
                size: nf.size,
                smallest: nf.smallest.clone(),
                largest: nf.largest.clone(),
                max_seq: nf.max_seq,
                table,
                bounds8: (
                    ikey::prefix_u64(ikey::user_key(&nf.smallest)),
                    ikey::prefix_u64(ikey::user_key(&nf.largest)),
                ),
            }));
        }
        v.levels[0].sort_by_key(|f| f.number);
        for level in v.levels.iter_mut().skip(1) {
            level.sort_by(|a, b| ikey::compare(&a.smallest, &b.smallest));
        }
        v.range_dels
            .retain(|t| !edit.retire_range_dels.contains(&t.seq));
        v.range_dels.extend(edit.add_range_dels.iter().cloned());
        Ok(v)
    }

    /// Files of `self` that `edit` removes and does not re-add (a trivial move re-adds).
    pub(crate) fn dropped_by(&self, edit: &VersionEdit) -> Vec<Arc<FileMeta>> {
        let readded = |n: u64| edit.new_files.iter().any(|f| f.number == n);
        edit.deleted
            .iter()
            .filter(|(_, n)| !readded(*n))
            .filter_map(|&(level, n)| self.levels[level].iter().find(|f| f.number == n).cloned())
            .collect()
    }

    /// An edit that recreates this version from nothing (the start of a new manifest).
    pub(crate) fn snapshot_edit(&self) -> VersionEdit {
        let mut e = VersionEdit::default();
        for (level, files) in self.levels.iter().enumerate() {
            for f in files {
                e.new_files.push(NewFile {
                    level,
                    number: f.number,
                    size: f.size,
                    smallest: f.smallest.clone(),
                    largest: f.largest.clone(),
                    max_seq: f.max_seq,
                });
            }
        }
        e.add_range_dels = self.range_dels.clone();
        e
    }

    /// Files that may hold `user_key`, newest first: L0 newest to oldest, then one file
    /// per deeper level.
    pub(crate) fn candidates<'a>(
        &'a self,
        user_key: &'a [u8],
    ) -> impl Iterator<Item = &'a Arc<FileMeta>> + 'a {
        let key8 = ikey::prefix_u64(user_key);
        let l0 = self.levels[0]
            .iter()
            .rev()
            .filter(move |f| f.may_hold(user_key, key8));
        let deeper = self.levels[1..].iter().filter_map(move |files| {
            let i = files.partition_point(|f| f.below(user_key, key8));
            files.get(i).filter(|f| f.may_hold(user_key, key8))
        });
        l0.chain(deeper)
    }

    /// Files of `level` whose user-key range intersects `[lo, hi]`.
    pub(crate) fn overlapping(
        &self,
        level: usize,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) -> Vec<Arc<FileMeta>> {
        self.levels[level]
            .iter()
            .filter(|f| f.overlaps(lo, hi))
            .cloned()
            .collect()
    }

    pub(crate) fn level_bytes(&self, level: usize) -> u64 {
        self.levels[level].iter().map(|f| f.size).sum()
    }

    /// Could any level deeper than `level` hold `user_key`?
    pub(crate) fn key_may_exist_below(&self, level: usize, user_key: &[u8]) -> bool {
        self.levels[level + 1..].iter().any(|files| {
            let i = files.partition_point(|f| f.largest_user() < user_key);
            files.get(i).is_some_and(|f| f.smallest_user() <= user_key)
        })
    }
}

/// Smallest and largest internal key over `files`.
pub(crate) fn key_range(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = files
        .iter()
        .map(|f| &f.smallest)
        .min_by(|a, b| ikey::compare(a, b))?;
    let hi = files
        .iter()
        .map(|f| &f.largest)
        .max_by(|a, b| ikey::compare(a, b).then(Ordering::Equal))?;
    Some((lo.clone(), hi.clone()))
}

/// The state replayed from a manifest, before tables are opened.
#[derive(Default)]
pub(crate) struct Replayed {
    pub log_number: u64,
    pub next_file: u64,
    pub last_seq: u64,
    pub files: BTreeMap<u64, NewFile>,
    pub range_dels: Vec<RangeTombstone>,
}

impl Replayed {
    pub(crate) fn apply(&mut self, e: VersionEdit) {
        if let Some(v) = e.log_number {
            self.log_number = v;
        }
        if let Some(v) = e.next_file {
            self.next_file = v;
        }
        // Sequence numbers never go back (a bulk load's edit may name a larger one
        // than an edit written after it; see `Db::bulk_load`).
        if let Some(v) = e.last_seq {
            self.last_seq = self.last_seq.max(v);
        }
        for (_, n) in e.deleted {
            self.files.remove(&n);
        }
        for f in e.new_files {
            self.files.insert(f.number, f);
        }
        self.range_dels
            .retain(|t| !e.retire_range_dels.contains(&t.seq));
        self.range_dels.extend(e.add_range_dels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Comparing by 8-byte prefixes first orders keys as comparing them does: keys
    /// longer than 8 bytes, sharing 8 bytes, ending in zeros, empty.
    #[test]
    fn prefix_comparisons_agree_with_key_comparisons() {
        let mut keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![0; 8],
            vec![0; 9],
            vec![0xff; 8],
            vec![0xff; 9],
            b"key:0000".to_vec(),
            b"key:0000\0".to_vec(),
            b"key:00001".to_vec(),
            b"key:0000999".to_vec(),
            b"key:0001".to_vec(),
            b"key:000".to_vec(),
            b"kez".to_vec(),
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let x = crate::testutil::xorshift(&mut x);
            let len = (x % 12) as usize;
            keys.push(
                (0..len)
                    .map(|i| [0, 1, 0x7f, 0xff][(x >> (2 * i + 8)) as usize % 4])
                    .collect(),
            );
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(
                    at_most(a, ikey::prefix_u64(a), b, ikey::prefix_u64(b)),
                    a <= b,
                    "{a:?} <= {b:?}"
                );
            }
        }
    }

    #[test]
    fn edit_roundtrip_and_garbage() {
        let e = VersionEdit {
            log_number: Some(7),
            next_file: Some(9),
            last_seq: Some(1234),
            new_files: vec![
                NewFile {
                    level: 2,
                    number: 8,
                    size: 4096,
                    smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
                    largest: b"z\0\0\0\0\0\0\0\0".to_vec(),
                    max_seq: 77,
                },
                NewFile {
                    level: 1,
                    number: 6,
                    size: 10,
                    smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
                    largest: b"b\0\0\0\0\0\0\0\0".to_vec(),
                    max_seq: UNKNOWN_SEQ,
                },
            ],
            deleted: vec![(1, 3)],
            add_range_dels: vec![RangeTombstone {
                start: b"a".to_vec(),
                end: b"b".to_vec(),
                seq: 5,
            }],
            retire_range_dels: vec![4],
        };
        let b = e.encode();
        assert_eq!(VersionEdit::decode(&b).unwrap(), e);
        for cut in 0..b.len() {
            let _ = VersionEdit::decode(&b[..cut]);
        }
        let mut bad = b.clone();
        bad[0] = 9;
        assert!(VersionEdit::decode(&bad).is_err());
    }
}
