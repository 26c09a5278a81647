//! The database: write path (WAL + group commit + memtable), reads, recovery, and the
//! background threads.
//!
//! Threads:
//! - callers: any number write and read concurrently. Writers queue; the writer at the
//!   front (the leader) writes the whole queue as one WAL record with at most one fsync.
//! - `strata-flush`: turns frozen memtables into L0 SSTs.
//! - `strata-compact`: leveled compaction.
//! - `strata-wal-sync`: once a second, hands buffered WAL records to the OS and (under
//!   [`SyncPolicy::EverySec`]) fsyncs them; not started under `Always`.
//!
//! Invariants:
//! 1. A sequence number becomes visible (`last_seq`) only after its whole batch is in
//!    the memtable, so readers never see part of a batch.
//! 2. A WAL file is deleted only after a manifest edit records that every memtable
//!    using it is in an SST.
//! 3. `version` changes only under the `manifest` mutex, after the edit is durable.
//! 4. After a background error, every write fails with it; reads keep working.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::batch::{self, WriteBatch};
use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::ikey;
use crate::iter::{InternalIterator, MergingIterator};
use crate::log::{LogReader, LogWriter};
use crate::memtable::{Lookup, Memtable};
use crate::options::{IterOptions, LevelStats, Options, Stats, SyncPolicy, WriteOptions};
use crate::range_del::{self, RangeTombstone};
use crate::skiplist::ChunkPool;
use crate::sst::builder::{Built, TableBuilder};
use crate::sst::table::Table;
use crate::version::{FileMeta, NewFile, Replayed, Version, VersionEdit, NUM_LEVELS, UNKNOWN_SEQ};
use crate::DbIterator;

/// Writers whose batches a leader may combine, by bytes.
const MAX_GROUP_BYTES: usize = 1 << 20;
/// A batch at least this large writes its WAL record on a helper thread while the
/// writer fills the memtable (below it, starting a thread costs more than it saves).
const PARALLEL_LOG_BYTES: usize = 1 << 20;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding an engine mutex is a bug; the data it guards is still
    // consistent at every await point, so keep going rather than poisoning everything.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The WAL buffer size the options ask for (none under `Always`).
fn wal_buffer(opts: &Options) -> usize {
    match opts.sync {
        SyncPolicy::Always => 0,
        SyncPolicy::EverySec | SyncPolicy::No => opts.wal_buffer_bytes,
    }
}

/// WAL files are pre-sized to what one memtable's records take (plus slack): any write
/// may ask for an fsync (`WriteOptions::sync`, `Always`, the once-a-second thread), and
/// an fsync that need not commit a new file size is about 40% cheaper on ext4 here.
fn wal_presize(opts: &Options) -> u64 {
    (opts.memtable_budget / 2 + (1 << 20)) as u64
}

fn file_name(number: u64, ext: &str) -> String {
    format!("{number:06}.{ext}")
}

struct Writer {
    batch: WriteBatch,
    sync: bool,
    result: Mutex<Option<Result<()>>>,
}

struct Wal {
    writer: LogWriter,
    number: u64,
    /// A dup of the WAL's descriptor, fsynced by the once-a-second thread without
    /// holding the writer.
    sync_handle: Arc<File>,
}

pub(crate) struct State {
    pub mem: Arc<Memtable>,
    /// Frozen memtables, oldest first.
    pub imms: VecDeque<Arc<Memtable>>,
    pub version: Arc<Version>,
    /// What a read needs of the three above, rebuilt whenever one of them changes
    /// (`refresh_view`), so a read clones one `Arc` instead of building a list.
    view: Arc<ReadView>,
}

/// The sources a read consults: memtables newest first, and the version.
pub(crate) struct ReadView {
    pub mems: Vec<Arc<Memtable>>,
    pub version: Arc<Version>,
}

impl State {
    fn new(mem: Arc<Memtable>, version: Arc<Version>) -> State {
        let mut st = State {
            mem,
            imms: VecDeque::new(),
            version,
            view: Arc::new(ReadView {
                mems: Vec::new(),
                version: Arc::new(Version::default()),
            }),
        };
        st.refresh_view();
        st
    }

    /// Rebuild `view` after `mem`, `imms` or `version` changed.
    fn refresh_view(&mut self) {
        let mut mems = Vec::with_capacity(1 + self.imms.len());
        mems.push(Arc::clone(&self.mem));
        mems.extend(self.imms.iter().rev().cloned());
        self.view = Arc::new(ReadView {
            mems,
            version: Arc::clone(&self.version),
        });
    }
}

struct Manifest {
    writer: LogWriter,
    number: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub write_stalls: AtomicU64,
    pub write_slowdowns: AtomicU64,
    pub stall_micros: AtomicU64,
    pub wal_bytes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub compaction_files_dropped: AtomicU64,
    pub bulk_loads: AtomicU64,
    pub bulk_load_bytes: AtomicU64,
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub opts: Options,
    pub cache: Arc<BlockCache>,
    /// Arena chunks of dropped memtables, for the next ones.
    pub chunk_pool: Arc<ChunkPool>,
    _lock_file: File,
    pub state: Mutex<State>,
    /// Signalled when there is flush or compaction work, and on shutdown.
    pub bg_cv: Condvar,
    /// Signalled when a flush or compaction frees room for writers.
    pub room_cv: Condvar,
    queue: Mutex<VecDeque<Arc<Writer>>>,
    queue_cv: Condvar,
    /// Held by the write leader for its whole group, and by anyone who freezes the
    /// memtable from outside the write path, so no insert lands in a frozen memtable.
    write_lock: Mutex<()>,
    wal: Mutex<Wal>,
    wal_dirty: AtomicBool,
    /// Every write up to this sequence number is on stable storage (see `sync_wal`).
    synced_seq: AtomicU64,
    /// Serializes `sync_wal` callers so that one fsync serves all who wait.
    sync_lock: Mutex<()>,
    manifest: Mutex<Manifest>,
    pub last_seq: AtomicU64,
    pub next_file: AtomicU64,
    pub snapshots: Mutex<BTreeMap<u64, usize>>,
    bg_error: Mutex<Option<String>>,
    /// `bg_error` is set: writers check this flag, not the mutex, on every write.
    has_bg_error: AtomicBool,
    pub compaction_lock: Mutex<()>,
    pub compact_pointer: Mutex<[Vec<u8>; NUM_LEVELS]>,
    pub shutting_down: AtomicBool,
    pub counters: Counters,
}

/// An open database. Thread-safe: share it by reference or in an `Arc`.
///
/// Dropping it stops the background threads and syncs the WAL.
pub struct Db {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

/// A point-in-time view: reads through it ignore every later write.
pub struct Snapshot {
    inner: Arc<Inner>,
    seq: u64,
}

impl Db {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = dir.as_ref().to_path_buf();
        if opts.memtable_budget < 64 << 10 {
            return Err(Error::InvalidArgument(
                "memtable_budget must be at least 64 KiB".into(),
            ));
        }
        if opts.create_if_missing {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        }
        let lock_path = dir.join("LOCK");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(format!("open {}", lock_path.display()), e))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Locked(lock_path)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("lock {}", lock_path.display()), e))
            }
        }
        let cache = Arc::new(BlockCache::new(opts.block_cache_bytes));
        // Up to one memtable's worth of arena chunks waits for the next memtables.
        let chunk_pool = Arc::new(ChunkPool::new(opts.memtable_budget / 2));
        let recovered = recover(&dir, &opts, &cache, &chunk_pool)?;
        let wal_file = recovered
            .wal
            .writer
            .file()
            .try_clone()
            .map_err(|e| Error::io("dup WAL", e))?;
        let inner = Arc::new(Inner {
            dir,
            cache,
            chunk_pool: Arc::clone(&chunk_pool),
            _lock_file: lock_file,
            state: Mutex::new(State::new(
                Arc::new(Memtable::new(
                    recovered.wal.number,
                    Some(Arc::clone(&chunk_pool)),
                )),
                Arc::new(recovered.version),
            )),
            bg_cv: Condvar::new(),
            room_cv: Condvar::new(),
            queue: Mutex::new(VecDeque::new()),
            queue_cv: Condvar::new(),
            write_lock: Mutex::new(()),
            wal: Mutex::new(Wal {
                sync_handle: Arc::new(wal_file),
                ..recovered.wal
            }),
            wal_dirty: AtomicBool::new(false),
            synced_seq: AtomicU64::new(recovered.last_seq),
            sync_lock: Mutex::new(()),
            manifest: Mutex::new(recovered.manifest),
            last_seq: AtomicU64::new(recovered.last_seq),
            next_file: AtomicU64::new(recovered.next_file),
            snapshots: Mutex::new(BTreeMap::new()),
            bg_error: Mutex::new(None),
            has_bg_error: AtomicBool::new(false),
            compaction_lock: Mutex::new(()),
            compact_pointer: Mutex::new(Default::default()),
            shutting_down: AtomicBool::new(false),
            counters: Counters::default(),
            opts,
        });
        inner.delete_obsolete_files();
        let mut threads = Vec::new();
        let spawn = |name: &str, f: fn(&Inner)| {
            let i = Arc::clone(&inner);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || f(&i))
                .map_err(|e| Error::io(format!("spawn {name}"), e))
        };
        threads.push(spawn("strata-flush", Inner::flush_loop)?);
        threads.push(spawn("strata-compact", Inner::compaction_loop)?);
        if inner.opts.sync != SyncPolicy::Always {
            threads.push(spawn("strata-wal-sync", Inner::sync_loop)?);
        }
        inner.bg_cv.notify_all();
        Ok(Db { inner, threads })
    }

    /// Set `key` to `value`.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::with_capacity(key.len() + value.len() + 11);
        b.put(key, value);
        self.write(WriteOptions::default(), b)
    }

    /// Remove `key`.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(WriteOptions::default(), b)
    }

    /// Remove every key in `[start, end)`, in constant time.
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete_range(start, end);
        self.write(WriteOptions::default(), b)
    }

    /// Apply `batch` atomically.
    pub fn write(&self, opts: WriteOptions, batch: WriteBatch) -> Result<()> {
        self.inner.write(opts, batch)
    }

    /// [`Db::write`], leaving `batch` empty. When the write needs no queue (no fsync
    /// asked, no other writer waiting) the batch keeps its buffer (up to 16 MiB of it),
    /// so a caller that fills one batch over and over does not grow a new buffer, and
    /// fault in fresh pages, for every write.
    pub fn write_and_clear(&self, opts: WriteOptions, batch: &mut WriteBatch) -> Result<()> {
        if self.inner.can_write_directly(&opts) {
            let r = self.inner.write_batch(batch, false);
            batch.clear_keeping(16 << 20);
            return r;
        }
        self.inner.write(opts, std::mem::take(batch))
    }

    /// Make every write acknowledged so far durable: flush the WAL buffer and fsync the
    /// WAL. Concurrent callers share one fsync (the second finds its writes covered), and
    /// a call with nothing new to sync costs two atomic loads. This is how a server
    /// running under [`SyncPolicy::EverySec`] gives some replies `Always` durability: it
    /// writes without syncing, then calls `sync_wal` once before it sends the replies of
    /// a whole batch of requests (Redis's `appendfsync always` does the same per event
    /// loop iteration).
    pub fn sync_wal(&self) -> Result<()> {
        self.inner.sync_wal()
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner
            .get_at(key, self.inner.last_seq.load(Ordering::Acquire))
    }

    /// [`Db::get`] of many keys at once, as of one moment: the same answers, found
    /// faster than one by one when the keys are in cold tables (their lookups overlap).
    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        self.inner
            .get_many_at(keys, self.inner.last_seq.load(Ordering::Acquire))
    }

    /// [`Db::get_many`] for a caller that needs only part of each value: `read` sees
    /// each found value in place (no copy of it is made, nothing is allocated for it)
    /// and the answer holds what it returned. `read` runs once per key found, in no
    /// particular order (also for a value a range deletion hides; that answer is then
    /// dropped).
    pub fn get_many_with<V>(
        &self,
        keys: &[&[u8]],
        read: impl FnMut(&[u8]) -> V,
    ) -> Result<Vec<Option<V>>> {
        self.inner
            .get_many_with_at(keys, self.inner.last_seq.load(Ordering::Acquire), read)
    }

    /// A snapshot of the current state.
    pub fn snapshot(&self) -> Snapshot {
        let mut snaps = lock(&self.inner.snapshots);
        let seq = self.inner.last_seq.load(Ordering::Acquire);
        *snaps.entry(seq).or_insert(0) += 1;
        Snapshot {
            inner: Arc::clone(&self.inner),
            seq,
        }
    }

    /// Iterate over the current state.
    pub fn iter(&self, opts: IterOptions) -> Result<DbIterator> {
        self.inner
            .iter_at(opts, self.inner.last_seq.load(Ordering::Acquire))
    }

    /// Write the memtable to an SST and wait until every frozen memtable is flushed.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_and_wait()
    }

    /// Compact every level over the user-key range `[start, end]` (None = unbounded),
    /// dropping deleted and overwritten entries; retire the range tombstones inside it.
    pub fn compact_range(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Result<()> {
        self.inner.flush_and_wait()?;
        self.inner.compact_range(start, end)
    }

    /// Start a bulk load: entries given to [`BulkLoad::put`], in increasing key order,
    /// go straight into a new SST instead of through the WAL and the memtable, and
    /// [`BulkLoad::finish`] adds that file to L0 in one manifest edit. Loading a large
    /// set of new keys this way costs a fraction of writing them (no memtable inserts,
    /// no WAL copy, no flush later).
    ///
    /// - All entries get one sequence number, above every earlier write; they become
    ///   visible together, at `finish`, and are durable then (the file and the manifest
    ///   are fsynced), whatever the sync policy.
    /// - The load holds the write lock from here to `finish`: writes from other threads
    ///   wait (a load of 100k entries takes some milliseconds).
    /// - A file's keys must not be in a memtable: the memtable is read first, so an
    ///   older value there would hide the loaded one. `finish` checks, and when the
    ///   file's key range meets a memtable it loads nothing and answers `false`: the
    ///   caller then writes the entries the usual way. Loads of keys that are new (a
    ///   collection version's records) never meet this.
    /// - Dropped without `finish`, the load leaves nothing behind.
    pub fn bulk_load(&self) -> Result<BulkLoad<'_>> {
        let inner = &*self.inner;
        inner.check_background()?;
        let write = lock(&inner.write_lock);
        // The L0 slowdown and stop rules apply, as to a write: each load adds an L0 file.
        inner.make_room_for_write()?;
        let seq = inner.last_seq.load(Ordering::Acquire) + 1;
        let first_number = inner.alloc_file();
        let main = BulkPart::create(inner, first_number, seq, first_number)?;
        Ok(BulkLoad {
            inner,
            _write: write,
            seq,
            first_number,
            main: Some(main),
        })
    }

    /// Counters and sizes.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The directory this database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        {
            let _st = lock(&self.inner.state);
            self.inner.bg_cv.notify_all();
            self.inner.room_cv.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // A clean close leaves nothing acknowledged only in a buffer or the page cache.
        let mut wal = lock(&self.inner.wal);
        let _ = wal.writer.sync();
    }
}

impl Snapshot {
    /// The sequence number this snapshot reads at.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get_at(key, self.seq)
    }
    /// [`Db::get_many`] as of the snapshot.
    pub fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        self.inner.get_many_at(keys, self.seq)
    }
    /// Iterate over the state as of the snapshot.
    pub fn iter(&self, opts: IterOptions) -> Result<DbIterator> {
        self.inner.iter_at(opts, self.seq)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = lock(&self.inner.snapshots);
        if let Some(n) = snaps.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.seq);
            }
        }
    }
}

/// A bulk load in progress; see [`Db::bulk_load`].
pub struct BulkLoad<'a> {
    inner: &'a Inner,
    _write: MutexGuard<'a, ()>,
    seq: u64,
    /// The file number allocated when the load began (its first file's).
    first_number: u64,
    /// The load's own file, which `put` fills (taken by `finish_with`).
    main: Option<BulkPart>,
}

/// One file of a bulk load: the load's own, or one made by [`BulkLoad::part`] to be
/// filled on another thread. Dropped without being installed, it removes its file.
pub struct BulkPart {
    /// The load it belongs to (its first file number).
    load: u64,
    seq: u64,
    number: u64,
    path: PathBuf,
    /// None once sealed, or after an error (`failed` tells which).
    builder: Option<TableBuilder>,
    /// The finished file (`seal`); None if it had no entries.
    built: Option<Built>,
    /// A `put` or the seal failed: the file is incomplete, and the load fails.
    failed: bool,
    entries: u64,
    /// The internal key being added (reused).
    ikey: Vec<u8>,
    installed: bool,
}

impl BulkPart {
    fn create(inner: &Inner, load: u64, seq: u64, number: u64) -> Result<BulkPart> {
        let path = inner.dir.join(file_name(number, "sst"));
        let builder =
            TableBuilder::create(&path, inner.opts.block_size, inner.opts.bloom_bits_per_key)?;
        Ok(BulkPart {
            load,
            seq,
            number,
            path,
            builder: Some(builder),
            built: None,
            failed: false,
            entries: 0,
            ikey: Vec::new(),
            installed: false,
        })
    }

    /// Add `key` = `value`. Keys must be strictly increasing; a key at or below the
    /// previous one is refused (`Error::InvalidArgument`) and the load can only be
    /// dropped.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let Some(b) = self.builder.as_mut() else {
            return Err(Error::InvalidArgument(
                "bulk load file already sealed".into(),
            ));
        };
        self.ikey.clear();
        ikey::encode_into(&mut self.ikey, key, self.seq, ikey::Kind::Value);
        let r = b.add_new_key(&self.ikey, value);
        match r {
            Ok(()) => self.entries += 1,
            Err(_) => {
                // Out of order, or the file could not be written: the file is over,
                // and so is the load (`seal` and `finish_with` report it).
                self.builder = None;
                self.failed = true;
            }
        }
        r
    }

    /// Entries added so far.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// No entry added yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finish the file and fsync it (no more `put`s). Optional: `finish` seals the
    /// files not sealed yet; a part sealed on the thread that filled it fsyncs there,
    /// beside the others.
    pub fn seal(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidArgument(
                "a write to this bulk load file failed".into(),
            ));
        }
        // Already sealed: nothing left to do.
        let Some(b) = self.builder.take() else {
            return Ok(());
        };
        if b.entries() > 0 {
            match b.finish() {
                Ok(built) => self.built = Some(built),
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Drop for BulkPart {
    fn drop(&mut self) {
        if !self.installed {
            // Close the file (if still building) before removing it.
            self.builder = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl BulkLoad<'_> {
    /// Add `key` = `value` to the load's own file. Keys must be strictly increasing;
    /// a key at or below the previous one is refused (`Error::InvalidArgument`) and
    /// the load can only be dropped.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        match self.main.as_mut() {
            Some(m) => m.put(key, value),
            None => Err(Error::InvalidArgument("bulk load already finished".into())),
        }
    }

    /// Entries added to the load's own file so far.
    pub fn len(&self) -> u64 {
        self.main.as_ref().map_or(0, BulkPart::len)
    }

    /// No entry added to the load's own file yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Another file of this load, to be filled (on another thread, say) with keys of
    /// a range no other file of the load touches, and handed to
    /// [`BulkLoad::finish_with`]. Its entries get the load's sequence number.
    pub fn part(&mut self) -> Result<BulkPart> {
        BulkPart::create(
            self.inner,
            self.first_number,
            self.seq,
            self.inner.alloc_file(),
        )
    }

    /// Write out the file and add it to the database. `Ok(false)`: its key range meets
    /// a memtable (or an L0 file flushed since the load began), so nothing was loaded
    /// (see [`Db::bulk_load`]). A load with no entries loads nothing and answers true.
    pub fn finish(self) -> Result<bool> {
        self.finish_with(Vec::new())
    }

    /// [`BulkLoad::finish`] of the load's own file and `parts`, all or nothing: one
    /// manifest edit adds every file. Files whose key ranges overlap are refused
    /// (`Error::InvalidArgument`, nothing loaded), as are parts of another load.
    pub fn finish_with(mut self, parts: Vec<BulkPart>) -> Result<bool> {
        let inner = self.inner;
        let mut files = parts;
        files.extend(self.main.take());
        if files.iter().any(|f| f.load != self.first_number) {
            return Err(Error::InvalidArgument("a part of another bulk load".into()));
        }
        for f in &mut files {
            f.seal()?;
        }
        // The files with entries, with their user-key ranges, in key order.
        let mut loaded: Vec<(Vec<u8>, Vec<u8>, &mut BulkPart)> = files
            .iter_mut()
            .filter_map(|f| {
                let b = f.built.as_ref()?;
                let range = (
                    ikey::user_key(&b.smallest).to_vec(),
                    ikey::user_key(&b.largest).to_vec(),
                );
                Some((range.0, range.1, f))
            })
            .collect();
        loaded.sort_by(|a, b| a.0.cmp(&b.0));
        if loaded.windows(2).any(|w| w[0].1 >= w[1].0) {
            return Err(Error::InvalidArgument(
                "the files of a bulk load overlap".into(),
            ));
        }
        if loaded.is_empty() {
            return Ok(true);
        }
        let clash = {
            let st = lock(&inner.state);
            // Writes wait for this load, and L0 files newer than it can only come from
            // flushes of memtables older than it: these are the only places an older
            // value of a loaded key could shadow it.
            loaded.iter().any(|(lo, hi, _)| {
                st.view.mems.iter().any(|m| m.overlaps(lo, hi))
                    || st.version.levels[0]
                        .iter()
                        .any(|l| l.number > self.first_number && l.overlaps(Some(lo), Some(hi)))
            })
        };
        if clash {
            return Ok(false);
        }
        let mut edit = VersionEdit {
            last_seq: Some(self.seq),
            ..Default::default()
        };
        let mut bytes = 0;
        for (f, b) in loaded
            .iter()
            .filter_map(|(_, _, f)| Some((f, f.built.as_ref()?)))
        {
            bytes += b.size;
            edit.new_files.push(NewFile {
                level: 0,
                number: f.number,
                size: b.size,
                smallest: b.smallest.clone(),
                largest: b.largest.clone(),
                max_seq: self.seq,
            });
        }
        // Installed first, visible after: a reader between the two reads below `seq`.
        if let Err(e) = inner.log_and_apply(edit, false) {
            // The manifest may or may not hold the edit: no more writes until reopened
            // (and the files stay, in case it does).
            for (_, _, f) in &mut loaded {
                f.installed = true;
            }
            inner.set_background_error(&e);
            return Err(e);
        }
        for (_, _, f) in &mut loaded {
            f.installed = true;
        }
        inner.last_seq.store(self.seq, Ordering::Release);
        inner.counters.bulk_loads.fetch_add(1, Ordering::Relaxed);
        inner
            .counters
            .bulk_load_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(true)
    }
}

struct Recovered {
    version: Version,
    wal: Wal,
    manifest: Manifest,
    last_seq: u64,
    next_file: u64,
}

/// Parse `NNNNNN.ext` file names.
fn parse_number(name: &str, ext: &str) -> Option<u64> {
    name.strip_suffix(ext)?.strip_suffix('.')?.parse().ok()
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("fsync directory {}", dir.display()), e))
}

/// Point `CURRENT` at `MANIFEST-number`: temp file, fsync, rename, fsync the directory.
fn set_current(dir: &Path, number: u64) -> Result<()> {
    let tmp = dir.join(format!("CURRENT.{number:06}.tmp"));
    let io = |e| Error::io(format!("write {}", tmp.display()), e);
    {
        use std::io::Write;
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(format!("MANIFEST-{number:06}\n").as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, dir.join("CURRENT")).map_err(|e| Error::io("rename CURRENT", e))?;
    sync_dir(dir)
}

fn write_manifest(dir: &Path, number: u64, snapshot: &VersionEdit) -> Result<Manifest> {
    let mut writer = LogWriter::create(&dir.join(format!("MANIFEST-{number:06}")))?;
    writer.add_record(&snapshot.encode())?;
    writer.sync()?;
    set_current(dir, number)?;
    Ok(Manifest { writer, number })
}

fn open_table(
    dir: &Path,
    nf: &NewFile,
    cache: &Arc<BlockCache>,
    opts: &Options,
) -> Result<Arc<Table>> {
    let path = dir.join(file_name(nf.number, "sst"));
    Ok(Arc::new(Table::open(
        &path,
        nf.number,
        Arc::clone(cache),
        opts.mmap_reads,
    )?))
}

/// Write the entries of `mem` as one SST; `None` when it holds no entry.
fn write_l0(
    dir: &Path,
    opts: &Options,
    mem: &Arc<Memtable>,
    number: u64,
) -> Result<Option<NewFile>> {
    if !mem.has_entries() {
        return Ok(None);
    }
    let path = dir.join(file_name(number, "sst"));
    let mut b = TableBuilder::create(&path, opts.block_size, opts.bloom_bits_per_key)?;
    mem.for_each_entry(|k, v| b.add(k, v))?;
    let built = b.finish()?;
    Ok(Some(NewFile {
        level: 0,
        number,
        size: built.size,
        smallest: built.smallest,
        largest: built.largest,
        max_seq: built.max_seq,
    }))
}

fn recover(
    dir: &Path,
    opts: &Options,
    cache: &Arc<BlockCache>,
    pool: &Arc<ChunkPool>,
) -> Result<Recovered> {
    let mut rep = Replayed {
        next_file: 2,
        ..Default::default()
    };
    let current = dir.join("CURRENT");
    match std::fs::read_to_string(&current) {
        Ok(name) => {
            let name = name.trim_end_matches('\n');
            let _number = name
                .strip_prefix("MANIFEST-")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| Error::corrupt_at(&current, 0, format!("CURRENT names {name:?}")))?;
            let path = dir.join(name);
            let mut r = LogReader::open(&path)?;
            while let Some(rec) = r.next_record()? {
                rep.apply(VersionEdit::decode(&rec).map_err(|e| e.in_file(&path))?);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !opts.create_if_missing {
                return Err(Error::InvalidArgument(format!(
                    "{} holds no database and create_if_missing is false",
                    dir.display()
                )));
            }
        }
        Err(e) => return Err(Error::io(format!("read {}", current.display()), e)),
    }
    let mut logs = Vec::new();
    let mut max_number = rep.next_file;
    for entry in
        std::fs::read_dir(dir).map_err(|e| Error::io(format!("list {}", dir.display()), e))?
    {
        let entry = entry.map_err(|e| Error::io("list directory", e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = parse_number(&name, "log") {
            if n >= rep.log_number {
                logs.push(n);
            }
            max_number = max_number.max(n + 1);
        } else if let Some(n) = parse_number(&name, "sst") {
            max_number = max_number.max(n + 1);
        } else if let Some(n) = name
            .strip_prefix("MANIFEST-")
            .and_then(|n| n.parse::<u64>().ok())
        {
            max_number = max_number.max(n + 1);
        }
    }
    logs.sort_unstable();
    let next_file = AtomicU64::new(max_number);
    let alloc = || next_file.fetch_add(1, Ordering::Relaxed);

    let mut version = Version::default();
    let base_files: Vec<NewFile> = rep.files.values().cloned().collect();
    let mut edit = VersionEdit {
        new_files: base_files,
        add_range_dels: rep.range_dels.clone(),
        ..Default::default()
    };
    // Replay the WALs into memtables, writing an L0 file whenever one fills up.
    // A bulk-loaded file's entries may be numbered above the last edit's `last_seq`
    // (a manifest rewritten between its install and `last_seq` catching up).
    let files_seq = rep
        .files
        .values()
        .map(|f| f.max_seq)
        .filter(|&s| s != UNKNOWN_SEQ);
    let mut last_seq = files_seq.fold(rep.last_seq, u64::max);
    let mut mem = Arc::new(Memtable::new(0, Some(Arc::clone(pool))));
    let flush_at = opts.memtable_budget / 2;
    let flush_mem = |mem: &mut Arc<Memtable>, edit: &mut VersionEdit| -> Result<()> {
        if let Some(nf) = write_l0(dir, opts, mem, alloc())? {
            edit.new_files.push(nf);
        }
        edit.add_range_dels.extend(mem.range_tombstones());
        *mem = Arc::new(Memtable::new(0, Some(Arc::clone(pool))));
        Ok(())
    };
    for &n in &logs {
        let path = dir.join(file_name(n, "log"));
        let mut r = LogReader::open(&path)?;
        while let Some(rec) = r.next_record()? {
            let (seq, ops) = batch::decode(&rec).map_err(|e| e.in_file(&path))?;
            mem.writer().apply_ops(seq, ops.iter().copied(), ops.len());
            last_seq = last_seq.max(seq + ops.len() as u64 - u64::from(!ops.is_empty()));
            if mem.approximate_bytes() >= flush_at {
                flush_mem(&mut mem, &mut edit)?;
            }
        }
    }
    if !mem.is_empty() {
        flush_mem(&mut mem, &mut edit)?;
    }
    version = version.apply(&edit, |nf| open_table(dir, nf, cache, opts))?;
    let wal_number = alloc();
    let writer = LogWriter::create_buffered(
        &dir.join(file_name(wal_number, "log")),
        wal_buffer(opts),
        wal_presize(opts),
    )?;
    let sync_handle = Arc::new(
        writer
            .file()
            .try_clone()
            .map_err(|e| Error::io("dup WAL", e))?,
    );
    sync_dir(dir)?;
    let manifest_number = alloc();
    let mut snap = version.snapshot_edit();
    snap.log_number = Some(wal_number);
    snap.last_seq = Some(last_seq);
    let next = next_file.load(Ordering::Relaxed);
    snap.next_file = Some(next);
    let manifest = write_manifest(dir, manifest_number, &snap)?;
    Ok(Recovered {
        version,
        wal: Wal {
            writer,
            number: wal_number,
            sync_handle,
        },
        manifest,
        last_seq,
        next_file: next,
    })
}

impl Inner {
    pub(crate) fn background_error(&self) -> Option<String> {
        lock(&self.bg_error).clone()
    }

    pub(crate) fn set_background_error(&self, e: &Error) {
        {
            let mut g = lock(&self.bg_error);
            if g.is_none() {
                *g = Some(e.to_string());
                self.has_bg_error.store(true, Ordering::Release);
            }
        }
        // Not under the state lock: callers may hold it (freezing a memtable). Writers
        // wait with a timeout and background threads re-check before they wait, so a
        // wake-up lost in the window costs at most one timeout.
        self.room_cv.notify_all();
        self.bg_cv.notify_all();
    }

    fn check_background(&self) -> Result<()> {
        if !self.has_bg_error.load(Ordering::Acquire) {
            return Ok(());
        }
        match self.background_error() {
            Some(m) => Err(Error::Background(m)),
            None => Ok(()),
        }
    }

    pub(crate) fn alloc_file(&self) -> u64 {
        self.next_file.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn smallest_snapshot(&self) -> u64 {
        let snaps = lock(&self.snapshots);
        snaps
            .keys()
            .next()
            .copied()
            .unwrap_or_else(|| self.last_seq.load(Ordering::Acquire))
    }

    /// True when a write needs no fsync and nobody is queued: it may then write
    /// directly, without the queue's allocation and hand-offs.
    fn can_write_directly(&self, opts: &WriteOptions) -> bool {
        let needs_sync = opts.sync || self.opts.sync == SyncPolicy::Always;
        !needs_sync && lock(&self.queue).is_empty()
    }

    fn write(&self, opts: WriteOptions, batch: WriteBatch) -> Result<()> {
        // A write that needs no fsync, with nobody queued: write directly, without the
        // queue's allocation and hand-offs. A writer that queues meanwhile serializes
        // with this one on the write lock, so ordering and atomicity are those of the
        // queue. Writes that fsync always queue: grouping them is what shares fsyncs.
        if self.can_write_directly(&opts) {
            return self.write_batch(&batch, false);
        }
        let me = Arc::new(Writer {
            batch,
            sync: opts.sync,
            result: Mutex::new(None),
        });
        let mut q = lock(&self.queue);
        q.push_back(Arc::clone(&me));
        loop {
            if let Some(r) = lock(&me.result).take() {
                return r;
            }
            if q.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            q = self.queue_cv.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        // This writer leads: take a group from the front of the queue.
        let mut group = Vec::new();
        let mut bytes = 0;
        for w in q.iter() {
            if !group.is_empty() && bytes + w.batch.approximate_size() > MAX_GROUP_BYTES {
                break;
            }
            bytes += w.batch.approximate_size();
            group.push(Arc::clone(w));
        }
        drop(q);
        let result = self.write_group(&group);
        for w in &group[1..] {
            *lock(&w.result) = Some(result.as_ref().map(|_| ()).map_err(Error::duplicate));
        }
        let mut q = lock(&self.queue);
        for _ in 0..group.len() {
            q.pop_front();
        }
        // Followers of this group wait for their results, and the rest of the queue for
        // its turn, on the condvar; a writer alone skips the wake-up system call.
        if group.len() > 1 || !q.is_empty() {
            self.queue_cv.notify_all();
        }
        drop(q);
        result
    }

    fn write_group(&self, group: &[Arc<Writer>]) -> Result<()> {
        let mut combined;
        let batch: &WriteBatch = if group.len() == 1 {
            &group[0].batch
        } else {
            combined =
                WriteBatch::with_capacity(group.iter().map(|w| w.batch.approximate_size()).sum());
            for w in group {
                combined.append(&w.batch);
            }
            &combined
        };
        self.write_batch(batch, group.iter().any(|w| w.sync))
    }

    /// Write one batch (a whole group's, or a lone writer's) under the write lock.
    fn write_batch(&self, batch: &WriteBatch, want_sync: bool) -> Result<()> {
        self.check_background()?;
        let _leader = lock(&self.write_lock);
        let mem = self.make_room_for_write()?;
        if batch.is_empty() {
            return Ok(());
        }
        let seq = self.last_seq.load(Ordering::Acquire) + 1;
        let sync = self.opts.sync == SyncPolicy::Always || want_sync;
        let apply = || {
            // A batch built by `WriteBatch` is well-formed; a malformed one would stop
            // the operations early, and the count check reports it.
            let count = batch.count() as usize;
            let ops = batch::ops(batch.body()).map_while(Result::ok);
            let next = mem.writer().apply_ops(seq, ops, count);
            if next - seq != count as u64 {
                return Err(Error::corrupt(format!(
                    "batch declares {count} ops but holds {}",
                    next - seq
                )));
            }
            Ok(next)
        };
        let next = if batch.body().len() >= PARALLEL_LOG_BYTES {
            // A large batch (RESTORE of a big collection): its WAL write (a copy of
            // megabytes into the page cache) runs on a helper thread while this thread
            // fills the memtable. The entries stay invisible until `last_seq` moves
            // past them below, which happens only once both succeeded; if the WAL write
            // fails, the error is sticky (no later write, flush or freeze happens), so
            // the unlogged entries never become visible or reach an SST.
            std::thread::scope(|scope| {
                let helper = std::thread::Builder::new()
                    .name("strata-wal-bulk".into())
                    .spawn_scoped(scope, || self.log_batch(seq, batch, sync));
                let Ok(logging) = helper else {
                    // No thread to be had: one after the other.
                    self.log_batch(seq, batch, sync)?;
                    return apply();
                };
                let applied = apply();
                let logged = logging
                    .join()
                    .unwrap_or_else(|_| Err(Error::Background("WAL writer panicked".into())));
                logged.and(applied)
            })?
        } else {
            self.log_batch(seq, batch, sync)?;
            apply()?
        };
        if !sync {
            self.wal_dirty.store(true, Ordering::Release);
        }
        self.last_seq.store(next - 1, Ordering::Release);
        Ok(())
    }

    /// Append a batch's WAL record (and sync it when asked); a failure is made sticky.
    fn log_batch(&self, seq: u64, batch: &WriteBatch, sync: bool) -> Result<()> {
        let mut wal = lock(&self.wal);
        let wal = &mut *wal;
        let header = batch::header(seq, batch.count());
        let res = wal
            .writer
            .add_record_parts(&[&header, batch.body()])
            .and_then(|_| {
                if sync {
                    self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                    wal.writer.sync()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = res {
            self.set_background_error(&e);
            return Err(e);
        }
        self.counters.wal_bytes.fetch_add(
            (header.len() + batch.body().len()) as u64,
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Ensure the active memtable has room, freezing it and stalling as needed; returns
    /// the memtable to insert into. Only the write leader calls this.
    fn make_room_for_write(&self) -> Result<Arc<Memtable>> {
        let mut allow_delay = true;
        let flush_at = self.opts.memtable_budget / 2;
        let mut st = lock(&self.state);
        loop {
            self.check_background()?;
            let l0 = st.version.levels[0].len();
            if allow_delay && l0 >= self.opts.l0_slowdown_trigger {
                drop(st);
                let t = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                self.counters
                    .write_slowdowns
                    .fetch_add(1, Ordering::Relaxed);
                self.counters
                    .stall_micros
                    .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                allow_delay = false;
                st = lock(&self.state);
                continue;
            }
            if st.mem.approximate_bytes() < flush_at {
                return Ok(Arc::clone(&st.mem));
            }
            if !st.imms.is_empty() || l0 >= self.opts.l0_stop_trigger {
                if self.shutting_down.load(Ordering::Acquire) {
                    return Err(Error::Background("database is closing".into()));
                }
                let t = Instant::now();
                self.counters.write_stalls.fetch_add(1, Ordering::Relaxed);
                self.bg_cv.notify_all();
                st = self
                    .room_cv
                    .wait_timeout(st, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                self.counters
                    .stall_micros
                    .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                continue;
            }
            self.freeze_memtable(&mut st)?;
        }
    }

    /// Switch to a new WAL and memtable; the old memtable waits for the flush thread.
    fn freeze_memtable(&self, st: &mut State) -> Result<()> {
        let number = self.alloc_file();
        let writer = LogWriter::create_buffered(
            &self.dir.join(file_name(number, "log")),
            wal_buffer(&self.opts),
            wal_presize(&self.opts),
        )
        .inspect_err(|e| self.set_background_error(e))?;
        let handle = writer
            .file()
            .try_clone()
            .map_err(|e| Error::io("dup WAL", e))?;
        {
            let mut wal = lock(&self.wal);
            // The old WAL is complete: make it durable before its memtable is frozen
            // (under every policy, so that `sync_wal`, which syncs only the current WAL,
            // covers the writes of older ones; one fsync per memtable costs nothing).
            wal.writer
                .sync()
                .inspect_err(|e| self.set_background_error(e))?;
            wal.writer = writer;
            wal.number = number;
            wal.sync_handle = Arc::new(handle);
        }
        let mem = Memtable::new(number, Some(Arc::clone(&self.chunk_pool)));
        let old = std::mem::replace(&mut st.mem, Arc::new(mem));
        st.imms.push_back(old);
        st.refresh_view();
        self.bg_cv.notify_all();
        Ok(())
    }

    fn flush_and_wait(&self) -> Result<()> {
        {
            let _w = lock(&self.write_lock);
            let mut st = lock(&self.state);
            if !st.mem.is_empty() {
                self.freeze_memtable(&mut st)?;
            }
        }
        let mut st = lock(&self.state);
        while !st.imms.is_empty() {
            self.check_background()?;
            if self.shutting_down.load(Ordering::Acquire) {
                return Err(Error::Background("database is closing".into()));
            }
            st = self
                .room_cv
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(st);
        self.check_background()
    }

    fn flush_loop(&self) {
        loop {
            let imm = {
                let mut st = lock(&self.state);
                loop {
                    if self.shutting_down.load(Ordering::Acquire)
                        || self.background_error().is_some()
                    {
                        return;
                    }
                    if let Some(m) = st.imms.front() {
                        break Arc::clone(m);
                    }
                    st = self.bg_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            if let Err(e) = self.flush_one(&imm) {
                self.set_background_error(&e);
                return;
            }
        }
    }

    fn flush_one(&self, imm: &Arc<Memtable>) -> Result<()> {
        let number = self.alloc_file();
        let nf = write_l0(&self.dir, &self.opts, imm, number)?;
        let log_number = {
            let st = lock(&self.state);
            st.imms.get(1).map_or(st.mem.wal_number, |m| m.wal_number)
        };
        let mut edit = VersionEdit {
            log_number: Some(log_number),
            add_range_dels: imm.range_tombstones(),
            ..Default::default()
        };
        if let Some(nf) = nf {
            self.counters
                .compaction_bytes_written
                .fetch_add(nf.size, Ordering::Relaxed);
            edit.new_files.push(nf);
        }
        self.log_and_apply(edit, true)?;
        self.counters.flushes.fetch_add(1, Ordering::Relaxed);
        self.delete_obsolete_logs(log_number);
        Ok(())
    }

    /// Make `edit` durable in the manifest, then install the new version.
    pub(crate) fn log_and_apply(&self, mut edit: VersionEdit, pop_imm: bool) -> Result<()> {
        let mut m = lock(&self.manifest);
        let base = Arc::clone(&lock(&self.state).version);
        let next = base.apply(&edit, |nf| {
            open_table(&self.dir, nf, &self.cache, &self.opts)
        })?;
        edit.next_file = Some(self.next_file.load(Ordering::Relaxed));
        // A bulk load names its own sequence number, above `last_seq` until installed.
        let last = self.last_seq.load(Ordering::Acquire);
        edit.last_seq = Some(edit.last_seq.map_or(last, |s| s.max(last)));
        if m.writer.size() > self.opts.manifest_rewrite_bytes {
            // Start a new manifest holding the whole state, then retire the old one.
            let number = self.alloc_file();
            let mut snap = next.snapshot_edit();
            snap.log_number = Some(edit.log_number.unwrap_or_else(|| self.current_log_floor()));
            snap.next_file = Some(self.next_file.load(Ordering::Relaxed));
            snap.last_seq = edit.last_seq;
            let old = m.number;
            *m = write_manifest(&self.dir, number, &snap)?;
            let _ = std::fs::remove_file(self.dir.join(format!("MANIFEST-{old:06}")));
        } else {
            m.writer.add_record(&edit.encode())?;
            m.writer.sync()?;
        }
        let dropped = base.dropped_by(&edit);
        {
            let mut st = lock(&self.state);
            st.version = Arc::new(next);
            if pop_imm {
                st.imms.pop_front();
            }
            st.refresh_view();
            self.room_cv.notify_all();
            self.bg_cv.notify_all();
        }
        for f in dropped {
            f.table.mark_obsolete();
        }
        Ok(())
    }

    /// The oldest WAL number still needed by a memtable.
    fn current_log_floor(&self) -> u64 {
        let st = lock(&self.state);
        st.imms.front().map_or(st.mem.wal_number, |m| m.wal_number)
    }

    fn delete_obsolete_logs(&self, below: u64) {
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if parse_number(&name, "log").is_some_and(|n| n < below) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Remove files no version needs: unreferenced SSTs, old WALs and manifests, temps.
    fn delete_obsolete_files(&self) {
        let live: std::collections::HashSet<u64> = {
            let st = lock(&self.state);
            st.version
                .levels
                .iter()
                .flatten()
                .map(|f| f.number)
                .collect()
        };
        let manifest = lock(&self.manifest).number;
        let floor = self.current_log_floor();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let dead = parse_number(&name, "sst").is_some_and(|n| !live.contains(&n))
                || parse_number(&name, "log").is_some_and(|n| n < floor)
                || name
                    .strip_prefix("MANIFEST-")
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n != manifest)
                || name.ends_with(".tmp");
            if dead {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    fn sync_wal(&self) -> Result<()> {
        self.check_background()?;
        let target = self.last_seq.load(Ordering::Acquire);
        if self.synced_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let _one_at_a_time = lock(&self.sync_lock);
        if self.synced_seq.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let (handle, upto) = {
            let mut wal = lock(&self.wal);
            wal.writer
                .flush()
                .inspect_err(|e| self.set_background_error(e))?;
            // Read under the WAL lock: every write numbered up to here has its record in
            // this WAL or in an older one, which was synced when it was retired.
            (
                Arc::clone(&wal.sync_handle),
                self.last_seq.load(Ordering::Acquire),
            )
        };
        self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
        handle.sync_data().map_err(|e| {
            let e = Error::io("fsync WAL", e);
            self.set_background_error(&e);
            e
        })?;
        self.synced_seq.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    fn sync_loop(&self) {
        let mut st = lock(&self.state);
        loop {
            // Checked under the lock before waiting: Drop sets the flag and then notifies
            // under the same lock, so the wake-up cannot be missed.
            if self.shutting_down.load(Ordering::Acquire) {
                return;
            }
            st = self
                .bg_cv
                .wait_timeout(st, Duration::from_secs(1))
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if self.shutting_down.load(Ordering::Acquire) {
                return;
            }
            drop(st);
            if self.wal_dirty.swap(false, Ordering::AcqRel) {
                let handle = {
                    let mut wal = lock(&self.wal);
                    if let Err(e) = wal.writer.flush() {
                        self.set_background_error(&e);
                    }
                    Arc::clone(&wal.sync_handle)
                };
                if self.opts.sync == SyncPolicy::EverySec {
                    self.counters.wal_syncs.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = handle.sync_data() {
                        self.set_background_error(&Error::io("fsync WAL", e));
                    }
                }
            }
            st = lock(&self.state);
        }
    }

    fn read_view(&self) -> Arc<ReadView> {
        Arc::clone(&lock(&self.state).view)
    }

    fn range_tombstones(mems: &[Arc<Memtable>], v: &Version) -> Vec<RangeTombstone> {
        let mut t = v.range_dels.clone();
        for m in mems.iter().filter(|m| m.has_range_tombstones()) {
            t.extend(m.range_tombstones());
        }
        t
    }

    pub(crate) fn get_at(&self, key: &[u8], seq: u64) -> Result<Option<Vec<u8>>> {
        let view = self.read_view();
        let (mems, version) = (&view.mems, &view.version);
        let tombs = Self::range_tombstones(mems, version);
        let visible = |entry_seq: u64, v: Vec<u8>| {
            (!range_del::hidden(&tombs, key, entry_seq, seq)).then_some(v)
        };
        let target = ikey::seek_key(key, seq);
        // The tables' filter lines load while the memtables are searched: a lookup that
        // reaches the tables then finds them in the cache, however many L0 files it probes.
        // The candidate files are found once (each test compares the key with a file's
        // bounds); past `KEPT` of them (a deep L0) the rest are found again.
        const KEPT: usize = 12;
        let hash = crate::sst::bloom::hash64(key);
        let mut kept: [Option<&Arc<FileMeta>>; KEPT] = [None; KEPT];
        let mut more = false;
        for (i, f) in version.candidates(key).enumerate() {
            f.table.prefetch_filter(hash);
            match kept.get_mut(i) {
                Some(slot) => *slot = Some(f),
                None => more = true,
            }
        }
        for m in mems {
            match m.get_with(&target, key, hash, <[u8]>::to_vec) {
                Lookup::Found(s, v) => return Ok(visible(s, v)),
                Lookup::Deleted(_) => return Ok(None),
                Lookup::Absent => {}
            }
        }
        let rest = more
            .then(|| version.candidates(key).skip(KEPT))
            .into_iter()
            .flatten();
        for f in kept.iter().map_while(|f| *f).chain(rest) {
            match f.table.get(&target, key, hash)? {
                Lookup::Found(s, v) => return Ok(visible(s, v)),
                Lookup::Deleted(_) => return Ok(None),
                Lookup::Absent => {}
            }
        }
        Ok(None)
    }

    /// [`Inner::get_at`] of every key in `keys`, as of `seq`, in stages: each stage
    /// does one step of every key's lookup and starts loading what that key's next
    /// step reads, so the cache misses of different keys overlap (a lookup in a cold
    /// table is a chain of them: fence run, block end, restart keys).
    pub(crate) fn get_many_at(&self, keys: &[&[u8]], seq: u64) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_many_with_at(keys, seq, <[u8]>::to_vec)
    }

    /// [`Inner::get_many_at`] that hands each found value to `read` in place (no copy
    /// of it is made) and answers what `read` made of it.
    pub(crate) fn get_many_with_at<V>(
        &self,
        keys: &[&[u8]],
        seq: u64,
        mut read: impl FnMut(&[u8]) -> V,
    ) -> Result<Vec<Option<V>>> {
        // Groups small enough that what one stage prefetches is still cached when the
        // next stage reads it; one view for all, so every answer is as of `seq`.
        const GROUP: usize = 32;
        let view = self.read_view();
        let (mems, version) = (&view.mems, &view.version);
        let tombs = Self::range_tombstones(mems, version);
        let mut out = Vec::with_capacity(keys.len());
        for group in keys.chunks(GROUP) {
            Self::get_group(group, seq, mems, version, &tombs, &mut read, &mut out)?;
        }
        Ok(out)
    }

    /// [`Inner::get_many_with_at`] of one group of keys, its answers appended to `out`.
    fn get_group<V>(
        keys: &[&[u8]],
        seq: u64,
        mems: &[Arc<Memtable>],
        version: &Version,
        tombs: &[RangeTombstone],
        read: &mut impl FnMut(&[u8]) -> V,
        out: &mut Vec<Option<V>>,
    ) -> Result<()> {
        struct Probe<'v> {
            /// This key's seek key is `targets[target.0..target.1]`.
            target: (usize, usize),
            hash: u64,
            /// This key's candidate files are `cands[next..end]`, newest first.
            next: usize,
            end: usize,
            /// The file and data block to look in next.
            at: Option<(&'v Table, usize)>,
            done: bool,
        }
        let hidden = |key: &[u8], entry_seq: u64| range_del::hidden(tombs, key, entry_seq, seq);
        let first = out.len();
        out.extend(keys.iter().map(|_| None));
        let out = &mut out[first..];
        // Every key's seek key, in one buffer (one allocation for the group).
        let mut targets = Vec::with_capacity(keys.iter().map(|k| k.len() + ikey::TRAILER).sum());
        // Every key's candidate files, found once; their filter lines start loading.
        let mut cands: Vec<&Table> = Vec::with_capacity(keys.len() * 4);
        let mut probes: Vec<Probe<'_>> = keys
            .iter()
            .map(|key| {
                let hash = crate::sst::bloom::hash64(key);
                let next = cands.len();
                for f in version.candidates(key) {
                    f.table.prefetch_filter(hash);
                    cands.push(&f.table);
                }
                let start = targets.len();
                ikey::push_seek_key(&mut targets, key, seq);
                Probe {
                    target: (start, targets.len()),
                    hash,
                    next,
                    end: cands.len(),
                    at: None,
                    done: false,
                }
            })
            .collect();
        let target = |(start, end): (usize, usize)| &targets[start..end];
        for ((key, p), slot) in keys.iter().zip(&mut probes).zip(out.iter_mut()) {
            for m in mems {
                match m.get_with(target(p.target), key, p.hash, &mut *read) {
                    Lookup::Found(s, v) => *slot = (!hidden(key, s)).then_some(v),
                    Lookup::Deleted(_) => {}
                    Lookup::Absent => continue,
                }
                p.done = true;
                break;
            }
        }
        let mut blocks = Vec::with_capacity(keys.len());
        loop {
            // The next file whose filter may hold the key; its fence run starts loading.
            for (key, p) in keys.iter().zip(&mut probes).filter(|(_, p)| !p.done) {
                p.at = None;
                while p.next < p.end {
                    let t = cands[p.next];
                    p.next += 1;
                    if t.may_contain(p.hash) {
                        t.prefetch_fences(key);
                        p.at = Some((t, 0));
                        break;
                    }
                }
                p.done = p.at.is_none();
            }
            if probes.iter().all(|p| p.done) {
                return Ok(());
            }
            // The data block; its place in the file starts loading...
            for p in probes.iter_mut().filter(|p| !p.done) {
                if let Some((t, b)) = &mut p.at {
                    match t.locate(target(p.target)) {
                        Some(block) => {
                            *b = block;
                            t.prefetch_fence(block);
                        }
                        None => p.at = None,
                    }
                }
            }
            // ...then its end (the restart array).
            for p in probes.iter().filter(|p| !p.done) {
                if let Some((t, b)) = p.at {
                    t.prefetch_block_end(b);
                }
            }
            // The block's iterator; its restart keys start loading.
            blocks.clear();
            for p in probes.iter().filter(|p| !p.done) {
                blocks.push(p.at.map(|(t, b)| {
                    let it = t.block_iter_at(b);
                    if let Ok(it) = &it {
                        it.prefetch_restarts();
                    }
                    it
                }));
            }
            // The lookups; a key not in its file goes on to the next one.
            let active = keys
                .iter()
                .zip(&mut probes)
                .zip(out.iter_mut())
                .filter(|((_, p), _)| !p.done);
            for (((key, p), slot), it) in active.zip(blocks.drain(..)) {
                let (Some((t, _)), Some(it)) = (p.at, it) else {
                    continue;
                };
                match t.lookup_with(it, target(p.target), key, &mut *read)? {
                    Lookup::Found(s, v) => *slot = (!hidden(key, s)).then_some(v),
                    Lookup::Deleted(_) => {}
                    Lookup::Absent => continue,
                }
                p.done = true;
            }
        }
    }

    pub(crate) fn iter_at(&self, opts: IterOptions, seq: u64) -> Result<DbIterator> {
        let view = self.read_view();
        let (mems, version) = (&view.mems, Arc::clone(&view.version));
        let tombs = Self::range_tombstones(mems, &version);
        let fill = !opts.no_fill_cache;
        let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
        for m in mems {
            children.push(Box::new(m.iter()));
        }
        // Only files whose key range meets the iterator's bounds take part: a scan of
        // one small range (a collection's sub-records) merges a few sources, not all.
        let (lo, hi) = (opts.lower.as_deref(), opts.upper.as_deref());
        for f in version.levels[0].iter().rev() {
            if f.overlaps(lo, hi) {
                children.push(f.table.iter(fill));
            }
        }
        for level in 1..NUM_LEVELS {
            let files: Vec<_> = version.levels[level]
                .iter()
                .filter(|f| f.overlaps(lo, hi))
                .cloned()
                .collect();
            match files.len() {
                0 => {}
                // One file (the usual case for a small range): its own iterator, without
                // the level's file index in front.
                1 => children.push(files[0].table.iter(fill)),
                _ => children.push(crate::compaction::level_iter(files, fill)),
            }
        }
        Ok(DbIterator::new(
            MergingIterator::new(children),
            seq,
            tombs,
            opts,
            version,
        ))
    }

    fn stats(&self) -> Stats {
        let view = self.read_view();
        let (mems, version) = (&view.mems, &view.version);
        let (hits, misses) = self.cache.hit_miss();
        let c = &self.counters;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            levels: version
                .levels
                .iter()
                .map(|l| LevelStats {
                    files: l.len(),
                    bytes: l.iter().map(|f| f.size).sum(),
                })
                .collect(),
            memtable_bytes: mems.iter().map(|m| m.approximate_bytes()).sum(),
            memtable_pool_bytes: self.chunk_pool.bytes(),
            immutable_memtables: mems.len() - 1,
            write_stalls: ld(&c.write_stalls),
            write_slowdowns: ld(&c.write_slowdowns),
            stall_micros: ld(&c.stall_micros),
            block_cache_hits: hits,
            block_cache_misses: misses,
            block_cache_bytes: self.cache.bytes(),
            wal_bytes: ld(&c.wal_bytes),
            wal_syncs: ld(&c.wal_syncs),
            flushes: ld(&c.flushes),
            compactions: ld(&c.compactions),
            compaction_bytes_read: ld(&c.compaction_bytes_read),
            compaction_bytes_written: ld(&c.compaction_bytes_written),
            compaction_files_dropped: ld(&c.compaction_files_dropped),
            bulk_loads: ld(&c.bulk_loads),
            bulk_load_bytes: ld(&c.bulk_load_bytes),
            last_sequence: self.last_seq.load(Ordering::Acquire),
            range_tombstones: Self::range_tombstones(mems, version).len(),
            background_error: self.background_error(),
        }
    }
}
