//! Leveled compaction: picking, merging with the drop rules, and installing the result.
//!
//! Picking (LevelDB's scores): L0 scores `files / l0_compaction_trigger`; level `n >= 1`
//! scores `bytes / (level1_max_bytes * multiplier^(n-1))`. The highest score `>= 1` is
//! compacted: all of L0 with the overlapping L1 files, or one file of Ln (round-robin by
//! key) with the overlapping Ln+1 files. A single input with nothing to merge below is
//! moved by a manifest edit alone (a trivial move). Besides, when L0 holds at least
//! `l0_idle_trigger` files (below the trigger) and no write came for `IDLE_WAIT`, L0 is
//! compacted then: the trigger can be high (fewer rewrites of L1 under a burst of writes)
//! without leaving the burst's L0 files to the next workload.
//!
//! Drop rules while merging, for an entry `key@seq`, with `S` the oldest live snapshot
//! (or the last sequence number when there is none):
//! 1. A newer version of the same key at or below `S` exists in the inputs: drop (no
//!    reader can see this one).
//! 2. A point tombstone with `seq <= S`, when no level below the output may hold the key:
//!    drop (tombstones are dropped only at the bottom of the key's history).
//! 3. A value hidden by a range tombstone whose own seq is `<= S`: drop. An input file
//!    whose whole key range such a tombstone covers, and whose largest seq is below
//!    the tombstone's, is dropped without being read (its point tombstones hide only
//!    older entries, which the range tombstone hides too).
//! 4. The compaction filter removes the newest version of a key with `seq <= S` that no
//!    live snapshot can see (every snapshot is older than it): drop at the bottom,
//!    otherwise write a point tombstone in its place so older versions below stay hidden.
//!    A snapshot taken while the compaction runs may see such a value disappear; the
//!    filter is for data that is logically dead already (expired keys, stale versions).
//!
//! An output file is cut only between two user keys, so a level never splits the
//! versions of one key across files.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::db::{lock, Inner};
use crate::error::Result;
use crate::ikey::{self, Kind};
use crate::iter::{InternalIterator, MergingIterator, TwoLevelIterator};
use crate::options::Decision;
use crate::range_del;
use crate::sst::builder::TableBuilder;
use crate::version::{key_range, FileMeta, NewFile, Version, VersionEdit, NUM_LEVELS};

/// Files of one level as an index: key = the file's largest key, value = its position.
struct FileListIter {
    files: Vec<Arc<FileMeta>>,
    pos: usize,
    value: [u8; 8],
}

impl FileListIter {
    fn set(&mut self, pos: usize) {
        self.pos = pos;
        self.value = (pos as u64).to_le_bytes();
    }
}

impl InternalIterator for FileListIter {
    fn valid(&self) -> bool {
        self.pos < self.files.len()
    }
    fn seek_to_first(&mut self) {
        self.set(0);
    }
    fn seek_to_last(&mut self) {
        self.set(self.files.len().checked_sub(1).unwrap_or(usize::MAX));
    }
    fn seek(&mut self, target: &[u8]) {
        let i = self
            .files
            .partition_point(|f| ikey::compare(&f.largest, target) == std::cmp::Ordering::Less);
        self.set(i);
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.seek(target);
    }
    fn next(&mut self) {
        self.set(self.pos.saturating_add(1));
    }
    fn prev(&mut self) {
        self.set(self.pos.checked_sub(1).unwrap_or(usize::MAX));
    }
    fn key(&self) -> &[u8] {
        self.files.get(self.pos).map_or(&[], |f| &f.largest)
    }
    fn value(&self) -> &[u8] {
        &self.value
    }
    fn status(&self) -> Result<()> {
        Ok(())
    }
}

/// An iterator over the disjoint, sorted files of one level, opening each lazily.
pub(crate) fn level_iter(files: Vec<Arc<FileMeta>>, fill_cache: bool) -> Box<dyn InternalIterator> {
    let index = FileListIter {
        files: files.clone(),
        pos: usize::MAX,
        value: [0; 8],
    };
    Box::new(TwoLevelIterator::new(Box::new(index), move |v: &[u8]| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&v[..8.min(v.len())]);
        let i = u64::from_le_bytes(a) as usize;
        let f = files
            .get(i)
            .ok_or_else(|| crate::Error::corrupt("level index out of range"))?;
        Ok(f.table.iter(fill_cache))
    }))
}

/// How long writes must pause before L0 is compacted at `l0_idle_trigger` files.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// One compaction's inputs: `inputs[0]` from `level`, `inputs[1]` from `level + 1`.
pub(crate) struct Compaction {
    pub level: usize,
    pub inputs: [Vec<Arc<FileMeta>>; 2],
}

impl Inner {
    fn max_bytes(&self, level: usize) -> u64 {
        let mut b = self.opts.level1_max_bytes;
        for _ in 1..level {
            b = b.saturating_mul(self.opts.level_multiplier);
        }
        b
    }

    /// The most urgent compaction, if any level is over its limit.
    pub(crate) fn pick_compaction(&self, v: &Version) -> Option<Compaction> {
        let mut best = (0.0f64, 0usize);
        for level in 0..NUM_LEVELS - 1 {
            let score = if level == 0 {
                v.levels[0].len() as f64 / self.opts.l0_compaction_trigger as f64
            } else {
                v.level_bytes(level) as f64 / self.max_bytes(level) as f64
            };
            if score > best.0 {
                best = (score, level);
            }
        }
        if best.0 < 1.0 {
            return None;
        }
        let level = best.1;
        let first = if level == 0 {
            v.levels[0].clone()
        } else {
            let mut ptr = lock(&self.compact_pointer);
            let files = &v.levels[level];
            let f = files
                .iter()
                .find(|f| ikey::compare(&f.largest, &ptr[level]) == std::cmp::Ordering::Greater)
                .or_else(|| files.first())?;
            ptr[level] = f.largest.clone();
            vec![Arc::clone(f)]
        };
        Some(self.with_next_level(v, level, first))
    }

    fn with_next_level(&self, v: &Version, level: usize, first: Vec<Arc<FileMeta>>) -> Compaction {
        let below = match key_range(&first) {
            Some((lo, hi)) => v.overlapping(
                level + 1,
                Some(ikey::user_key(&lo)),
                Some(ikey::user_key(&hi)),
            ),
            None => Vec::new(),
        };
        Compaction {
            level,
            inputs: [first, below],
        }
    }

    /// Does L0 hold enough files for a compaction when writes pause?
    fn l0_idle_due(&self, v: &Version) -> bool {
        self.opts.l0_idle_trigger > 0 && v.levels[0].len() >= self.opts.l0_idle_trigger
    }

    pub(crate) fn compaction_loop(&self) {
        loop {
            let mut idle = false;
            {
                let mut st = lock(&self.state);
                loop {
                    if self.shutting_down.load(Ordering::Acquire)
                        || self.background_error().is_some()
                    {
                        return;
                    }
                    if self.pick_compaction(&st.version).is_some() {
                        break;
                    }
                    if !self.l0_idle_due(&st.version) {
                        st = self.bg_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    // Below the trigger but over the idle one: compact L0 if no write
                    // comes for IDLE_WAIT (a write moves last_seq).
                    let seq = self.last_seq.load(Ordering::Acquire);
                    let (g, waited) = self
                        .bg_cv
                        .wait_timeout(st, IDLE_WAIT)
                        .unwrap_or_else(|e| e.into_inner());
                    st = g;
                    if waited.timed_out()
                        && self.last_seq.load(Ordering::Acquire) == seq
                        && self.l0_idle_due(&st.version)
                    {
                        idle = true;
                        break;
                    }
                }
            }
            let _g = lock(&self.compaction_lock);
            let v = Arc::clone(&lock(&self.state).version);
            let picked = self.pick_compaction(&v).or_else(|| {
                (idle && self.l0_idle_due(&v))
                    .then(|| self.with_next_level(&v, 0, v.levels[0].clone()))
            });
            let Some(c) = picked else {
                continue;
            };
            if let Err(e) = self.run_compaction(&v, c, true) {
                self.set_background_error(&e);
                return;
            }
        }
    }

    /// Run and install one compaction. The caller holds `compaction_lock`.
    pub(crate) fn run_compaction(
        &self,
        v: &Version,
        c: Compaction,
        allow_move: bool,
    ) -> Result<()> {
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        let out_level = c.level + 1;
        let mut edit = VersionEdit::default();
        for (i, files) in c.inputs.iter().enumerate() {
            for f in files {
                edit.deleted.push((c.level + i, f.number));
            }
        }
        if allow_move && c.inputs[0].len() == 1 && c.inputs[1].is_empty() {
            let f = &c.inputs[0][0];
            edit.new_files.push(NewFile {
                level: out_level,
                number: f.number,
                size: f.size,
                smallest: f.smallest.clone(),
                largest: f.largest.clone(),
                max_seq: f.max_seq,
            });
            return self.log_and_apply(edit, false);
        }
        let outputs = self.merge_inputs(v, &c, out_level)?;
        edit.new_files = outputs;
        self.log_and_apply(edit, false)
    }

    fn merge_inputs(&self, v: &Version, c: &Compaction, out_level: usize) -> Result<Vec<NewFile>> {
        let smallest_snapshot = self.smallest_snapshot();
        let newest_snapshot = lock(&self.snapshots).keys().next_back().copied();
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        let mut bytes_in = 0;
        for f in c.inputs.iter().flatten() {
            if covered(v, f, smallest_snapshot) {
                // Every entry would be dropped by rule 3: the file goes unread.
                self.counters
                    .compaction_files_dropped
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            bytes_in += f.size;
            children.push(f.table.iter(false));
        }
        self.counters
            .compaction_bytes_read
            .fetch_add(bytes_in, Ordering::Relaxed);
        let mut it = MergingIterator::new(children);
        it.seek_to_first();
        let filter = self.opts.compaction_filter.clone();
        let mut outputs = Vec::new();
        let mut builder: Option<(u64, TableBuilder)> = None;
        let mut current_key: Vec<u8> = Vec::new();
        let mut have_key = false;
        let mut last_seq_for_key = u64::MAX;
        while it.valid() {
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(crate::Error::Background("database is closing".into()));
            }
            let p = ikey::parse(it.key())?;
            let new_key = !have_key || p.user_key != current_key.as_slice();
            if new_key {
                // Cut the output only between user keys.
                if let Some((_, b)) = &builder {
                    if b.estimated_size() >= self.opts.target_file_size {
                        if let Some((n, b)) = builder.take() {
                            outputs.push(finish(b, n, out_level)?);
                        }
                    }
                }
                current_key.clear();
                current_key.extend_from_slice(p.user_key);
                have_key = true;
                last_seq_for_key = u64::MAX;
            }
            let mut as_tombstone = false;
            let mut drop_it = false;
            if last_seq_for_key <= smallest_snapshot {
                drop_it = true;
            } else if p.seq <= smallest_snapshot {
                match p.kind {
                    Kind::Delete => drop_it = !v.key_may_exist_below(out_level, p.user_key),
                    Kind::Value => {
                        if range_del::hidden(&v.range_dels, p.user_key, p.seq, smallest_snapshot) {
                            drop_it = true;
                        } else if let Some(f) = filter
                            .as_ref()
                            .filter(|_| newest_snapshot.is_none_or(|n| p.seq > n))
                        {
                            if f.filter(out_level, p.user_key, it.value()) == Decision::Remove {
                                as_tombstone = v.key_may_exist_below(out_level, p.user_key);
                                drop_it = !as_tombstone;
                            }
                        }
                    }
                }
            }
            last_seq_for_key = p.seq;
            if !drop_it {
                if builder.is_none() {
                    let n = self.alloc_file();
                    let path = self.dir.join(format!("{n:06}.sst"));
                    builder = Some((
                        n,
                        TableBuilder::create(
                            &path,
                            self.opts.block_size,
                            self.opts.bloom_bits_per_key,
                        )?,
                    ));
                }
                if let Some((_, b)) = builder.as_mut() {
                    if as_tombstone {
                        b.add(&ikey::encode(p.user_key, p.seq, Kind::Delete), &[])?;
                    } else {
                        b.add(it.key(), it.value())?;
                    }
                }
            }
            it.next();
        }
        it.status()?;
        if let Some((n, b)) = builder.take() {
            if b.entries() > 0 {
                outputs.push(finish(b, n, out_level)?);
            }
        }
        let written: u64 = outputs.iter().map(|f| f.size).sum();
        self.counters
            .compaction_bytes_written
            .fetch_add(written, Ordering::Relaxed);
        Ok(outputs)
    }

    /// Manual compaction of `[start, end]` down to the deepest level holding data, then
    /// retirement of the range tombstones it covers.
    pub(crate) fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        let _g = lock(&self.compaction_lock);
        // Tombstones at or below this bound are retired at the end: every compaction
        // below runs with an oldest snapshot >= it (the bound never decreases), so it
        // drops everything they hide.
        let retire_bound = self.smallest_snapshot();
        let deepest = {
            let v = Arc::clone(&lock(&self.state).version);
            (0..NUM_LEVELS)
                .rev()
                .find(|&l| !v.levels[l].is_empty())
                .unwrap_or(0)
        };
        for level in 0..deepest.max(1) {
            let v = Arc::clone(&lock(&self.state).version);
            // L0 files overlap each other: compacting some of them could leave an older
            // version above a newer one, so L0 always goes whole.
            let first = if level == 0 {
                v.levels[0].clone()
            } else {
                v.overlapping(level, start, end)
            };
            let (mut lo, mut hi) = (start.map(<[u8]>::to_vec), end.map(<[u8]>::to_vec));
            if let Some((a, b)) = key_range(&first) {
                lo = lo.map(|l| l.min(ikey::user_key(&a).to_vec()));
                hi = hi.map(|h| h.max(ikey::user_key(&b).to_vec()));
            }
            let below = v.overlapping(level + 1, lo.as_deref(), hi.as_deref());
            // The bottom level is rewritten even when nothing above overlaps it.
            if first.is_empty() && (level + 1 < deepest || below.is_empty()) {
                continue;
            }
            let c = Compaction {
                level,
                inputs: [first, below],
            };
            self.run_compaction(&v, c, false)?;
        }
        let s = retire_bound;
        let v = Arc::clone(&lock(&self.state).version);
        let retire: Vec<u64> = v
            .range_dels
            .iter()
            .filter(|t| {
                t.seq <= s
                    && start.is_none_or(|a| t.start.as_slice() >= a)
                    && end.is_none_or(|b| t.end.as_slice() <= b)
            })
            .map(|t| t.seq)
            .collect();
        if !retire.is_empty() {
            self.log_and_apply(
                VersionEdit {
                    retire_range_dels: retire,
                    ..Default::default()
                },
                false,
            )?;
        }
        Ok(())
    }
}

/// Is every entry of `f` hidden, for every reader, by one range tombstone of `v`? (Its
/// whole key range inside the tombstone's, every sequence number below the
/// tombstone's, and the tombstone visible to the oldest snapshot `smallest_snapshot`.)
/// Such a file leaves a compaction without being read: FLUSHALL's and FLUSHDB's space
/// comes back at the cost of a manifest edit, not of reading the data.
fn covered(v: &Version, f: &FileMeta, smallest_snapshot: u64) -> bool {
    v.range_dels.iter().any(|t| {
        t.seq <= smallest_snapshot
            && f.max_seq < t.seq
            && t.start.as_slice() <= f.smallest_user()
            && f.largest_user() < t.end.as_slice()
    })
}

fn finish(b: TableBuilder, number: u64, level: usize) -> Result<NewFile> {
    let built = b.finish()?;
    Ok(NewFile {
        level,
        number,
        size: built.size,
        smallest: built.smallest,
        largest: built.largest,
        max_seq: built.max_seq,
    })
}
