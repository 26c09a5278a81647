//! The keyspace on the engine: metadata records, logical databases, expiry, counts.
//!
//! Layout (docs/key-encoding.md, "Server records"):
//! - A key's metadata record lives at `keys::metadata_key(phys_db, key)`; its value is
//!   `kind u8 | expire_at_ms u64 LE (0 = none) | body` (for a string, the body is the
//!   value itself).
//! - SELECT's logical databases map to physical db ids (the key layout's db byte) through
//!   the record `0xFF 0x00 "dbmap"`, so FLUSHDB and SWAPDB change one small record:
//!   FLUSHDB gives the database a fresh id and retires the old one, whose records the
//!   compaction filter drops.
//! - Keys with a TTL have an index record `0xFF 0x01 | expire_at_ms u64 BE | phys u8 |
//!   key` so active expiry finds due keys with a range scan. Index records are never
//!   updated in place: a stale one (TTL changed or removed) is recognized and dropped
//!   when it comes due.
//!
//! Concurrency: readers take no lock (each engine write is atomic). Every command that
//! writes runs inside a [`Txn`], which holds the store's write lock from its first read
//! to its commit, so read-modify-write commands are atomic.
//!
//! Deferred commits: inside [`defer_commits`] (an event loop running the pipelined
//! write commands that read only through their transaction) a commit does not reach
//! the engine at once: its writes join the store's *pending* writes, which later
//! transactions read through (metadata and sub-records) and which go to the engine as
//! one batch at [`Store::flush_pending`]. The event loop flushes before it sends any
//! reply and before any other command runs, and a transaction begun outside
//! `defer_commits` flushes first, so no reply acknowledges a write that is not in the
//! engine, and readers that bypass transactions never miss a write they must see.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use strata_lsm::{keys, CompactionFilter, Db, Decision, IterOptions, WriteBatch, WriteOptions};

pub use strata_dump::records::{
    metadata_key, metadata_key_into, next_slot_start, now_ms, prefix_end, sub_key, sub_key_into,
    sub_prefix, Coll, Error, Kind, Meta, Result, FLAG_BIG, FLAG_NOT_INTSET, LIST_MIDDLE, SLOTS_END,
};

const DBMAP_KEY: &[u8] = b"\xff\x00dbmap";
/// Upper bound of the collection versions handed out (u64 LE); versions below it may
/// be in use, so after a restart numbering continues from it.
const VERSION_KEY: &[u8] = b"\xff\x00version";
const VERSION_BLOCK: u64 = 1 << 20;
const EXPIRE_PREFIX: [u8; 2] = [0xff, 0x01];
const PHYS_IDS: usize = 256;
/// Pending writes larger than this go to the engine at the next deferred commit.
const PENDING_LIMIT: usize = 1 << 20;
/// Pending writes holding this many keys' metadata go to the engine at once too, at
/// the deferred commit that reaches it: an event loop iteration of pipelined MSETs
/// (8,000 keys and their values) would otherwise outgrow the L2 cache before its batch
/// is encoded, and encode it from L3 (docs/decisions.md, sixteenth session).
const PENDING_METAS: usize = 512;

thread_local! {
    static DEFER: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with deferred commits on this thread (see the module docs). The caller
/// must call [`Store::flush_pending`] before it acknowledges anything `f` did.
pub fn defer_commits<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFER.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DEFER.with(|d| d.replace(true)));
    f()
}

fn deferring() -> bool {
    DEFER.with(Cell::get)
}

/// A key's metadata as a transaction (or the pending writes) sees it.
#[derive(Clone)]
struct Slot {
    /// None = absent.
    meta: Option<Meta>,
    /// Written by a deferred commit and not yet in any batch: the record is encoded
    /// once, when the pending writes are applied, however often it changed.
    dirty: bool,
}

impl Slot {
    /// Whether the key exists (Some) and has a TTL.
    fn ttl_state(&self) -> Option<bool> {
        self.meta.as_ref().map(|m| m.expire != 0)
    }
}

/// A transaction batch this large moves into the pending writes instead of being copied
/// (`merge_into_pending`), and a RESTORE this large borrows the pending batch's buffer.
const BIG_BATCH: usize = 64 << 10;

/// Writes of deferred commits not yet in the engine, guarded by the write lock.
#[derive(Default)]
pub struct Pending {
    batch: WriteBatch,
    /// Metadata as the pending writes leave it, by metadata key.
    metas: FastMap<Vec<u8>, Slot>,
    /// Sub-records as the pending writes leave them, by engine key.
    subs: FastMap<Vec<u8>, Option<Vec<u8>>>,
    deltas: FastMap<u8, Counts>,
    /// The persisted version bound before the pending writes reserved a block.
    reserved_from: Option<u64>,
    /// The pending batch holds sub-record writes that are not in `subs`
    /// (`Txn::sub_write_unread`).
    unread: bool,
    /// The pending batch holds sub-record writes that are not in `subs` either (a
    /// list's pushes and pops: `Txn::sub_put_fresh`, `Txn::sub_del_fresh`): they are
    /// applied before a sub-record is read from the engine (`Txn::settle_fresh`).
    fresh: bool,
    /// Sub-records read ahead of a run of pops (`Txn::sub_get_run`).
    ahead: ReadAhead,
    /// The last transaction's emptied maps and key buffer, for the next one.
    spare: Spare,
}

/// A transaction's maps, key buffer and write batch, kept between transactions
/// (`Pending::spare`): most commands would otherwise allocate each anew (and grow the
/// batch by reallocation), and the key buffer still holds the last sub-record key, whose
/// prefix the next command on the same key reuses (`sub_key_into`).
#[derive(Default)]
struct Spare {
    overlay: FastMap<Vec<u8>, Slot>,
    subs: FastMap<Vec<u8>, Option<Vec<u8>>>,
    deltas: FastMap<u8, Counts>,
    key_buf: Vec<u8>,
    /// The last metadata key built (`Txn::mk_buf`).
    mk_buf: Vec<u8>,
    /// Empty; `None` rather than a fresh batch, which would allocate.
    batch: Option<WriteBatch>,
}

/// Spare maps with room for more entries than this, or a key buffer larger than
/// `SPARE_KEY_BYTES`, are dropped instead of kept.
const SPARE_ENTRIES: usize = 1024;
const SPARE_KEY_BYTES: usize = 4096;
/// A transaction's write batch of a larger capacity is dropped instead of kept.
const SPARE_BATCH_BYTES: usize = 64 << 10;

/// Most sub-records one read-ahead keeps, and most bytes of their values.
pub const READ_AHEAD_RECORDS: usize = 128;
const READ_AHEAD_BYTES: usize = 64 << 10;

/// Sub-records of one collection version read from the engine ahead of the reads that
/// want them (a list's pops, one element after the other): one scan instead of a point
/// lookup per pop. Behind the write lock, like the pending writes. Invariant: an entry
/// holds the engine's value of its key, and no write to that key has been made since it
/// was read (every sub-record write forgets the key it writes; a write this cannot see
/// clears it all).
#[derive(Default)]
struct ReadAhead {
    /// Sub-record key prefix (one collection version) of the last run read.
    prefix: Vec<u8>,
    /// The direction `run` was read in.
    forward: bool,
    /// (engine key, value), all under `prefix`, in the order they were read.
    run: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl ReadAhead {
    /// Where `key` is or would be in `run`.
    fn find(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        if self.forward {
            self.run.binary_search_by(|(k, _)| k.as_slice().cmp(key))
        } else {
            self.run.binary_search_by(|(k, _)| key.cmp(k))
        }
    }

    /// The value read ahead for `key`, handed out once.
    fn take(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if self.run.front().is_some_and(|(k, _)| k == key) {
            return self.run.pop_front().map(|(_, v)| v);
        }
        let i = self.find(key).ok()?;
        self.run.remove(i).map(|(_, v)| v)
    }

    /// A write of `key` is coming.
    fn forget(&mut self, key: &[u8]) {
        let Some((first, _)) = self.run.front() else {
            return;
        };
        // A pop deletes the record it was just handed (`take`), which lies before the
        // run's first in its order: one comparison, not a search of up to 128 keys.
        let before_run = if self.forward {
            key < first.as_slice()
        } else {
            key > first.as_slice()
        };
        if !before_run && key.starts_with(&self.prefix) {
            if let Ok(i) = self.find(key) {
                self.run.remove(i);
            }
        }
    }

    fn clear(&mut self) {
        self.prefix.clear();
        self.run.clear();
    }
}

/// Logical → physical database ids and retired ids.
#[derive(Clone, Debug)]
struct DbMap {
    map: Vec<u8>,
    retired: Vec<bool>,
}

impl DbMap {
    fn identity(n: usize) -> DbMap {
        DbMap {
            map: (0..n as u8).collect(),
            retired: vec![false; PHYS_IDS],
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![1u8, self.map.len() as u8];
        v.extend_from_slice(&self.map);
        v.extend((0..PHYS_IDS).filter(|&i| self.retired[i]).map(|i| i as u8));
        v
    }
    fn decode(raw: &[u8]) -> Result<DbMap> {
        let bad = || Error::Corrupt("database map".into());
        if raw.len() < 2 || raw[0] != 1 {
            return Err(bad());
        }
        let n = raw[1] as usize;
        let map = raw.get(2..2 + n).ok_or_else(bad)?.to_vec();
        let mut retired = vec![false; PHYS_IDS];
        for &r in &raw[2 + n..] {
            retired[r as usize] = true;
        }
        Ok(DbMap { map, retired })
    }
    /// A physical id neither mapped nor retired.
    fn free_id(&self) -> Option<u8> {
        (0..PHYS_IDS)
            .find(|&i| !self.retired[i] && !self.map.contains(&(i as u8)))
            .map(|i| i as u8)
    }
}

/// Drops the records of retired physical databases, and sub-records whose collection
/// version is no longer the key's current one (deleted, overwritten, expired).
struct Filter {
    retired: Arc<RwLock<Vec<bool>>>,
    db: std::sync::OnceLock<std::sync::Weak<Db>>,
    /// The last decision: its metadata key, the sub-records' version, whether they
    /// were kept, and when. Sub-records of one collection version are adjacent, so one
    /// metadata lookup serves a run of them (see `keeps`).
    last: Mutex<LastDecision>,
    /// Collection versions whose sub-records are bulk-loaded but whose metadata may not
    /// be committed yet (`Txn::bulk_sub_records`): kept whatever the metadata says.
    loading: Arc<Mutex<Vec<u64>>>,
}

/// See `Filter::last`.
struct LastDecision {
    meta_key: Vec<u8>,
    version: u64,
    keep: bool,
    /// Uses of a cached "keep" since the metadata was read.
    unchecked: u32,
}

/// A cached "keep" is used this many times before the metadata is read again: at most
/// this many records of a collection deleted meanwhile are kept (harmless: a later
/// compaction drops them), for one metadata read per this many records. (It was a
/// 50 ms age instead; a collection deleted just after a compaction then kept every
/// record the next compaction met within those 50 ms, 6–15 MB of a deleted 1M-field
/// hash, which the reclaim test caught now and then.)
const KEEP_CHECK_EVERY: u32 = 1024;

impl Filter {
    /// A filter that reads the metadata through `db` once that is set.
    fn new(retired: Arc<RwLock<Vec<bool>>>, loading: Arc<Mutex<Vec<u64>>>) -> Filter {
        Filter {
            retired,
            db: std::sync::OnceLock::new(),
            last: Mutex::new(LastDecision {
                meta_key: Vec::new(),
                version: 0,
                keep: true,
                unchecked: 0,
            }),
            loading,
        }
    }

    /// Whether the sub-records of `version` of the collection whose metadata key is
    /// `head` (slot and db, 3 bytes) | 0x00 | `user_key` are still reachable.
    ///
    /// A cached "remove" stays true forever: a collection's metadata and the records of
    /// one of its versions are committed in one batch (or the records are bulk-loaded
    /// first, and kept by `loading` until the metadata is committed), versions are
    /// never reused, so once the metadata no longer names `version` it never will
    /// again. A cached "keep"
    /// may have become stale since it was read (the collection deleted since), and
    /// keeping a stale record is harmless while removing a live one is not; the time
    /// bound keeps a stale keep from delaying reclaiming forever.
    /// This runs for every compacted sub-record: the metadata key is built only when
    /// the cached decision does not apply.
    fn keeps(&self, head: &[u8], user_key: &[u8], version: u64) -> bool {
        let mut last = lock(&self.last);
        let same_key = last.meta_key.len() == head.len() + 1 + user_key.len()
            && last.meta_key[..head.len()] == *head
            && last.meta_key[head.len() + 1..] == *user_key;
        if same_key && last.version == version {
            if !last.keep {
                return false;
            }
            if last.unchecked < KEEP_CHECK_EVERY {
                last.unchecked += 1;
                return true;
            }
        }
        let Some(db) = self.db.get().and_then(std::sync::Weak::upgrade) else {
            return true;
        };
        last.meta_key.clear();
        last.meta_key.extend_from_slice(head);
        last.meta_key.push(0);
        last.meta_key.extend_from_slice(user_key);
        // A read failure keeps the record (the filter never guesses).
        let keep = match db.get(&last.meta_key) {
            Ok(Some(raw)) => match Meta::decode(&raw) {
                Ok(m) if m.kind != Kind::String => match m.header() {
                    Ok(h) => h.version == version,
                    Err(_) => true,
                },
                Ok(_) => false,
                Err(_) => true,
            },
            Ok(None) => false,
            Err(_) => true,
        };
        let keep = keep || lock(&self.loading).contains(&version);
        last.version = version;
        last.keep = keep;
        last.unchecked = 0;
        // This runs on the engine's compaction thread. If the store was dropped while we
        // held the engine, the last reference is ours, and dropping it here would make
        // the compaction thread join itself: hand it to a short-lived thread instead.
        if Arc::strong_count(&db) == 1 {
            let _ = std::thread::Builder::new()
                .name("strata-db-close".into())
                .spawn(move || drop(db));
        }
        keep
    }
}

impl CompactionFilter for Filter {
    fn filter(&self, _level: usize, key: &[u8], _value: &[u8]) -> Decision {
        if key.len() < 4 || key[0] >= SLOTS_END[0] {
            return Decision::Keep;
        }
        {
            let retired = self.retired.read().unwrap_or_else(|e| e.into_inner());
            if retired[key[2] as usize] {
                return Decision::Remove;
            }
        }
        if key[3] != 1 || key.len() < 8 {
            return Decision::Keep;
        }
        let klen = u32::from_be_bytes([key[4], key[5], key[6], key[7]]) as usize;
        let Some(user_key) = key.get(8..8 + klen) else {
            return Decision::Keep;
        };
        let Some(vb) = key.get(8 + klen..16 + klen) else {
            return Decision::Keep;
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(vb);
        let version = u64::from_be_bytes(a);
        if self.keeps(&key[..3], user_key, version) {
            Decision::Keep
        } else {
            Decision::Remove
        }
    }
}

/// Key counts of one physical database.
#[derive(Clone, Copy, Default, Debug)]
pub struct Counts {
    /// Keys (including expired ones not yet removed, as Redis counts them).
    pub keys: i64,
    /// Keys with a TTL.
    pub expires: i64,
}

/// The keyspace.
pub struct Store {
    /// The engine.
    pub db: Arc<Db>,
    /// Collection versions: (next to hand out, reserved bound persisted in the engine).
    versions: Mutex<(u64, u64)>,
    /// A version bound known to be durable (fsynced) in the engine: no version below it
    /// is handed out again after a crash.
    durable_bound: AtomicU64,
    /// See `Filter::loading`.
    loading: Arc<Mutex<Vec<u64>>>,
    /// Logical databases served (`databases`).
    n_dbs: usize,
    /// A background compaction (after FLUSHALL) is running.
    compacting: Arc<std::sync::atomic::AtomicBool>,
    write: Mutex<Pending>,
    /// `write` holds pending writes (read without the lock).
    has_pending: AtomicBool,
    /// Bumped whenever pending writes could not be applied: replies that
    /// acknowledged them must not go out.
    lost: AtomicU64,
    dbmap: RwLock<DbMap>,
    retired: Arc<RwLock<Vec<bool>>>,
    counts: Mutex<Vec<Counts>>,
    /// Expired keys removed (INFO `expired_keys`).
    pub expired_keys: AtomicU64,
    /// CLIENT PAUSE: until this Unix time (ms), expired keys read as missing but are not
    /// removed, by lazy or active expiry (Redis keeps the data set still while paused).
    pub expiry_paused_until: AtomicU64,
    /// WATCHed keys: logical db → key → the clients watching it.
    watches: Mutex<Vec<FastMap<Vec<u8>, Vec<Watcher>>>>,
    /// How many (db, key) entries `watches` holds: writes look at the registry only
    /// when some client watches something.
    watched: AtomicUsize,
}

/// A client WATCHing a key.
struct Watcher {
    client: u64,
    /// Set when the key is modified: the client's EXEC then fails.
    dirty: Arc<AtomicBool>,
    /// The key was logically expired when watched (Redis 7.0: its deletion by expiry
    /// then changes nothing, and a later EXEC does not fail for its expiry).
    expired: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The expiry index record for `key`.
fn expire_index_key(when: u64, phys: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(11 + key.len());
    k.extend_from_slice(&EXPIRE_PREFIX);
    k.extend_from_slice(&when.to_be_bytes());
    k.push(phys);
    k.extend_from_slice(key);
    k
}

impl Store {
    /// Open (or create) the keyspace in `dir` with `databases` logical databases.
    pub fn open(
        dir: &std::path::Path,
        mut opts: strata_lsm::Options,
        databases: usize,
    ) -> Result<Store> {
        let retired = Arc::new(RwLock::new(vec![false; PHYS_IDS]));
        let loading = Arc::new(Mutex::new(Vec::new()));
        let filter = Arc::new(Filter::new(Arc::clone(&retired), Arc::clone(&loading)));
        opts.compaction_filter = Some(Arc::clone(&filter) as Arc<dyn CompactionFilter>);
        let db = Arc::new(Db::open(dir, opts)?);
        let _ = filter.db.set(Arc::downgrade(&db));
        let mut map = match db.get(DBMAP_KEY)? {
            Some(raw) => DbMap::decode(&raw)?,
            None => DbMap::identity(databases),
        };
        // More databases than last time: map the new ones to free ids.
        while map.map.len() < databases {
            let id = map
                .free_id()
                .ok_or_else(|| Error::Corrupt("no free database id".into()))?;
            map.map.push(id);
        }
        db.put(DBMAP_KEY, &map.encode())?;
        *retired.write().unwrap_or_else(|e| e.into_inner()) = map.retired.clone();
        let versions = match db.get(VERSION_KEY)? {
            Some(raw) if raw.len() == 8 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&raw);
                u64::from_le_bytes(a)
            }
            _ => 1,
        };
        let store = Store {
            // A map longer than `databases` (the setting was lowered) keeps its extra
            // entries, and their data, for when it is raised again.
            n_dbs: databases,
            versions: Mutex::new((versions, versions)),
            // Recovery leaves everything it read durable (replayed WALs are flushed).
            durable_bound: AtomicU64::new(versions),
            loading,
            db,
            compacting: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            write: Mutex::new(Pending::default()),
            has_pending: AtomicBool::new(false),
            lost: AtomicU64::new(0),
            dbmap: RwLock::new(map),
            retired,
            counts: Mutex::new(vec![Counts::default(); PHYS_IDS]),
            expired_keys: AtomicU64::new(0),
            expiry_paused_until: AtomicU64::new(0),
            watches: Mutex::new((0..databases).map(|_| FastMap::default()).collect()),
            watched: AtomicUsize::new(0),
        };
        store.recount()?;
        Ok(store)
    }

    /// Count keys and TTLs of every mapped database by scanning the metadata (at start).
    fn recount(&self) -> Result<()> {
        let ids: Vec<u8> = self.read_map().map.clone();
        let mut counts = vec![Counts::default(); PHYS_IDS];
        let mut it = self.db.iter(IterOptions {
            lower: Some(vec![0, 0]),
            upper: Some(SLOTS_END.to_vec()),
            no_fill_cache: true,
            ..Default::default()
        })?;
        while it.valid() {
            let k = it.key();
            if k.len() >= 4 && k[3] == 0 && ids.contains(&k[2]) {
                let m = Meta::decode(it.value())?;
                let c = &mut counts[k[2] as usize];
                c.keys += 1;
                c.expires += i64::from(m.expire != 0);
                it.advance();
            } else if k.len() >= 3 {
                // Sub-records or an unmapped database: on to the next db of the slot.
                let next = if k[2] == 255 {
                    next_slot_start(u16::from_be_bytes([k[0], k[1]]))
                } else {
                    vec![k[0], k[1], k[2] + 1]
                };
                it.seek(&next);
            } else {
                it.advance();
            }
        }
        it.status()?;
        *lock(&self.counts) = counts;
        Ok(())
    }

    fn read_map(&self) -> std::sync::RwLockReadGuard<'_, DbMap> {
        self.dbmap.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Physical id of logical database `db`.
    pub fn phys(&self, db: usize) -> u8 {
        self.read_map().map[db]
    }

    /// Number of logical databases.
    pub fn databases(&self) -> usize {
        self.n_dbs
    }

    /// The live metadata of `key` (an expired key reads as missing).
    pub fn get(&self, db: usize, key: &[u8]) -> Result<Option<Meta>> {
        let phys = self.phys(db);
        self.get_phys(phys, key)
    }

    fn get_phys(&self, phys: u8, key: &[u8]) -> Result<Option<Meta>> {
        let raw = self.db.get(&metadata_key(phys, key))?;
        self.live(phys, key, raw)
    }

    /// [`Store::get`] of each key, with the engine lookups done at once
    /// ([`strata_lsm::Db::get_many`]: their cache misses overlap), as MGET needs.
    pub fn get_many(&self, db: usize, keys: &[Vec<u8>]) -> Result<Vec<Option<Meta>>> {
        let phys = self.phys(db);
        let mks: Vec<Vec<u8>> = keys.iter().map(|k| metadata_key(phys, k)).collect();
        let refs: Vec<&[u8]> = mks.iter().map(Vec::as_slice).collect();
        let raws = self.db.get_many(&refs)?;
        keys.iter()
            .zip(raws)
            .map(|(key, raw)| self.live(phys, key, raw))
            .collect()
    }

    /// The metadata of `key` read from the engine (`raw`), if live; an expired key is
    /// deleted, as Redis's lazy expiry does, and reads as missing.
    fn live(&self, phys: u8, key: &[u8], raw: Option<Vec<u8>>) -> Result<Option<Meta>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let m = Meta::decode(&raw)?;
        // The clock only for keys with a TTL (a read of the clock is a good part of a
        // pipelined GET's cost here).
        if m.expire == 0 || !m.expired(now_ms()) {
            return Ok(Some(m));
        }
        // When the write lock is busy (another command, or this thread inside a
        // transaction) the active-expiry thread deletes it instead.
        if let Ok(g) = self.write.try_lock() {
            let mut t = self.txn_with(g);
            t.lazy_expire_phys(phys, key)?;
            t.commit()?;
        }
        Ok(None)
    }

    /// Key counts of logical database `db`.
    pub fn counts(&self, db: usize) -> Counts {
        lock(&self.counts)[self.phys(db) as usize]
    }

    /// WATCH `keys` in logical db `db` for `client`: a later write of one sets `dirty`.
    /// Registered under the write lock (one transaction for all of them), so every
    /// write either precedes the watch or sees it. Returns the keys not watched by this
    /// client before.
    pub fn watch(
        &self,
        db: usize,
        keys: &[Vec<u8>],
        client: u64,
        dirty: &Arc<AtomicBool>,
    ) -> Result<Vec<Vec<u8>>> {
        let mut t = self.txn();
        let mut added = Vec::new();
        for key in keys {
            let expired = t.peek(db, key)?.is_some_and(|m| m.expired(t.now));
            let mut w = lock(&self.watches);
            let list = w[db].entry(key.clone()).or_default();
            if list.iter().any(|x| x.client == client) {
                continue;
            }
            if list.is_empty() {
                self.watched.fetch_add(1, Ordering::Relaxed);
            }
            list.push(Watcher {
                client,
                dirty: Arc::clone(dirty),
                expired,
            });
            added.push(key.clone());
        }
        drop(t);
        Ok(added)
    }

    /// Forget `client`'s watches of `keys`.
    pub fn unwatch(&self, client: u64, keys: &[(usize, Vec<u8>)]) {
        if keys.is_empty() {
            return;
        }
        let mut w = lock(&self.watches);
        for (db, key) in keys {
            if let Some(list) = w[*db].get_mut(key.as_slice()) {
                list.retain(|x| x.client != client);
                if list.is_empty() {
                    w[*db].remove(key.as_slice());
                    self.watched.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// At EXEC: has one of `client`'s watched keys, live when watched, expired since
    /// (Redis 7.0 fails the EXEC then, deleted or not)?
    pub fn watched_key_expired(&self, client: u64, keys: &[(usize, Vec<u8>)]) -> Result<bool> {
        let mut t = self.txn();
        for (db, key) in keys {
            let was_expired = {
                let w = lock(&self.watches);
                w[*db]
                    .get(key.as_slice())
                    .and_then(|l| l.iter().find(|x| x.client == client))
                    .is_none_or(|x| x.expired)
            };
            if !was_expired && t.peek(*db, key)?.is_some_and(|m| m.expired(t.now)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A write of `key` in logical db `db`: its watchers' EXEC will fail. `exists` is
    /// whether the key exists after the write (a key expired when watched and now
    /// deleted changed nothing, as in Redis 7.0).
    fn touch(&self, db: usize, key: &[u8], exists: bool) {
        let mut w = lock(&self.watches);
        if let Some(list) = w.get_mut(db).and_then(|m| m.get_mut(key)) {
            for x in list {
                if x.expired && !exists {
                    x.expired = false;
                    continue;
                }
                x.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Whether any client watches anything (a write skips the registry otherwise).
    fn watching(&self) -> bool {
        self.watched.load(Ordering::Relaxed) > 0
    }

    /// Begin a write transaction (takes the write lock).
    pub fn txn(&self) -> Txn<'_> {
        self.txn_with(lock(&self.write))
    }

    fn txn_with<'a>(&'a self, mut guard: MutexGuard<'a, Pending>) -> Txn<'a> {
        let deferred = deferring();
        if !deferred && self.has_pending.load(Ordering::Acquire) {
            // Outside deferred commits a transaction starts from the engine alone (its
            // commands may read around it, COPY's sub-record scan for one).
            if let Err(e) = self.apply_pending(&mut guard) {
                crate::log::warning(format_args!("applying pending writes: {e}"));
            }
        }
        let spare = std::mem::take(&mut guard.spare);
        Txn {
            store: self,
            pending: guard,
            lazy_only: true,
            reserved_from: None,
            loading: None,
            committed: false,
            batch: spare.batch.unwrap_or_default(),
            overlay: spare.overlay,
            deferred,
            unindexed: false,
            unread: false,
            fresh: false,
            #[cfg(debug_assertions)]
            fresh_keys: Vec::new(),
            subs: spare.subs,
            deltas: spare.deltas,
            now: now_ms(),
            map_changed: None,
            key_buf: spare.key_buf,
            mk_buf: spare.mk_buf,
            phys_cache: std::cell::Cell::new(None),
        }
    }

    /// Apply the pending writes of deferred commits to the engine (nothing to do when
    /// there are none). On an error they are lost and [`Store::lost_writes`] changes.
    pub fn flush_pending(&self) -> Result<()> {
        if !self.has_pending.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut g = lock(&self.write);
        self.apply_pending(&mut g)
    }

    /// A counter that changes whenever pending writes were lost: a loop that sees it
    /// change across an iteration must not send that iteration's replies.
    pub fn lost_writes(&self) -> u64 {
        self.lost.load(Ordering::Acquire)
    }

    /// Write `p` to the engine as one batch and apply its key counts. The caller holds
    /// the write lock (`p` is behind it).
    fn apply_pending(&self, p: &mut Pending) -> Result<()> {
        for (mk, slot) in p.metas.drain() {
            match (slot.dirty, &slot.meta) {
                (false, _) => {}
                (true, Some(m)) => p.batch.put_parts(&mk, &[&m.header_bytes(), &m.body]),
                (true, None) => p.batch.delete(&mk),
            }
        }
        p.subs.clear();
        p.unread = false;
        p.fresh = false;
        self.has_pending.store(false, Ordering::Release);
        if !p.batch.is_empty() {
            // The pending batch keeps its buffer across writes (no regrowth per loop
            // iteration).
            if let Err(e) = self
                .db
                .write_and_clear(WriteOptions::default(), &mut p.batch)
            {
                if let Some(bound) = p.reserved_from.take() {
                    lock(&self.versions).1 = bound;
                }
                p.deltas.clear();
                self.lost.fetch_add(1, Ordering::AcqRel);
                return Err(e.into());
            }
        }
        p.reserved_from = None;
        if !p.deltas.is_empty() {
            let mut counts = lock(&self.counts);
            for (phys, d) in p.deltas.drain() {
                let c = &mut counts[phys as usize];
                c.keys += d.keys;
                c.expires += d.expires;
            }
        }
        Ok(())
    }

    /// fsync everything written so far (for `appendfsync always`). Cheap when another
    /// thread's fsync already covered it; never returns before the caller's writes are
    /// durable.
    pub fn sync(&self) -> Result<()> {
        self.db.sync_wal()?;
        Ok(())
    }

    /// Is expiry held by CLIENT PAUSE at `now` (Unix ms)?
    pub fn expiry_paused(&self, now: u64) -> bool {
        now < self.expiry_paused_until.load(Ordering::Relaxed)
    }

    /// Remove up to `budget` due keys from the expiry index; returns how many index
    /// records were processed (a full budget means more may be due). Nothing while
    /// CLIENT PAUSE holds expiry.
    pub fn expire_cycle(&self, budget: usize) -> Result<usize> {
        let now = now_ms();
        if self.expiry_paused(now) {
            return Ok(0);
        }
        let mut upper = EXPIRE_PREFIX.to_vec();
        upper.extend_from_slice(&(now + 1).to_be_bytes());
        let mut due = Vec::new();
        {
            let mut it = self.db.iter(IterOptions {
                lower: Some(EXPIRE_PREFIX.to_vec()),
                upper: Some(upper),
                ..Default::default()
            })?;
            while it.valid() && due.len() < budget {
                due.push(it.key().to_vec());
                it.advance();
            }
            it.status()?;
        }
        if due.is_empty() {
            return Ok(0);
        }
        let mut txn = self.txn();
        let ids = txn.store.read_map().map.clone();
        for idx in &due {
            txn.batch.delete(idx);
            if idx.len() < 11 {
                continue;
            }
            let mut w = [0u8; 8];
            w.copy_from_slice(&idx[2..10]);
            let when = u64::from_be_bytes(w);
            let phys = idx[10];
            let key = &idx[11..];
            if !ids.contains(&phys) {
                continue;
            }
            if let Some(m) = txn.raw_phys(phys, key)? {
                if m.expire == when && m.expired(txn.now) {
                    txn.del_phys(phys, key, &m);
                    self.expired_keys.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        txn.commit()?;
        Ok(due.len())
    }

    /// Compact the whole key space on a background thread (after FLUSHALL, and for
    /// BGREWRITEAOF), unless one such compaction is already running; true if this call
    /// started one.
    pub fn compact_in_background(&self) -> bool {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return false;
        }
        let db = Arc::clone(&self.db);
        let flag = Arc::clone(&self.compacting);
        let _ = std::thread::Builder::new()
            .name("strata-full-compact".into())
            .spawn(move || {
                if let Err(e) = db.compact_range(None, None) {
                    crate::log::warning(format_args!("full compaction: {e}"));
                }
                flag.store(false, Ordering::Release);
            });
        true
    }

    /// A committed sub-record (reads outside a transaction).
    pub fn sub_get(
        &self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(&sub_key(self.phys(db), key, version, field))?)
    }

    /// Iterate one collection version's committed sub-records with fields in
    /// `[lower, upper)` (None = unbounded), in field order or reversed; `f` gets (field,
    /// value) and returns false to stop.
    #[allow(clippy::too_many_arguments)]
    pub fn sub_scan(
        &self,
        phys: u8,
        key: &[u8],
        version: u64,
        lower: Option<&[u8]>,
        upper: Option<&[u8]>,
        reverse: bool,
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        let prefix = sub_prefix(phys, key, version);
        let mut lo = prefix.clone();
        if let Some(l) = lower {
            lo.extend_from_slice(l);
        }
        let hi = match upper {
            Some(u) => {
                let mut h = prefix.clone();
                h.extend_from_slice(u);
                h
            }
            None => prefix_end(&prefix),
        };
        let mut it = self.db.iter(IterOptions {
            lower: Some(lo),
            upper: Some(hi),
            reverse,
            ..Default::default()
        })?;
        while it.valid() {
            if !f(&it.key()[prefix.len()..], it.value()) {
                break;
            }
            it.advance();
        }
        it.status()?;
        Ok(())
    }

    /// Every logical database's physical id.
    pub fn map_snapshot(&self) -> Vec<u8> {
        self.read_map().map.clone()
    }
}

/// A fast, non-cryptographic hasher for the transaction's small maps (keys are ours or
/// a client's, and a transaction's maps live for one command: flooding is not a risk
/// worth SipHash's cost on every write).
#[derive(Default)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(a)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u64(&mut self, n: u64) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// A write transaction: reads see its own writes; commit applies them atomically.
/// Dropped without a commit, it discards its writes, except when all it did was delete
/// expired keys it met (lazy expiry), which it then commits.
pub struct Txn<'a> {
    store: &'a Store,
    /// The write lock, and the pending writes behind it.
    pending: MutexGuard<'a, Pending>,
    /// Only lazy-expiry deletions so far.
    lazy_only: bool,
    /// The persisted version bound before this transaction reserved a new block: if it
    /// is dropped without a commit, the reservation is undone so no version is ever
    /// handed out above the persisted bound.
    reserved_from: Option<u64>,
    /// The version whose sub-records this transaction bulk-loaded (in `Store::loading`
    /// until the transaction ends).
    loading: Option<u64>,
    committed: bool,
    batch: WriteBatch,
    /// Metadata read or written by this transaction, by metadata key.
    overlay: FastMap<Vec<u8>, Slot>,
    /// Begun inside `defer_commits`: metadata writes stay in the overlay (dirty) and
    /// reach a batch when the pending writes are applied.
    deferred: bool,
    /// Wrote sub-records that are not in `subs` (`sub_put_new`).
    unindexed: bool,
    /// Wrote sub-records that are not in `subs` (`sub_write_unread`, which
    /// `sub_put_new` calls too): a read-ahead would not know to skip them.
    unread: bool,
    /// Wrote sub-records that are not in `subs` (`sub_put_fresh`, `sub_del_fresh`).
    fresh: bool,
    /// Their keys, to check that this transaction does not read them back.
    #[cfg(debug_assertions)]
    fresh_keys: Vec<Vec<u8>>,
    /// Sub-records written by this transaction (None = deleted), by engine key.
    subs: FastMap<Vec<u8>, Option<Vec<u8>>>,
    deltas: FastMap<u8, Counts>,
    /// Where sub-record keys that need no owned copy are built (reused: bulk writes
    /// and member reads allocate nothing per record).
    key_buf: Vec<u8>,
    /// Where metadata keys are built: a command that reads a key and then writes it
    /// builds its metadata key (and hashes its slot) once, and the write finds the
    /// overlay entry without an owned copy of it.
    mk_buf: Vec<u8>,
    /// The transaction's clock (Redis freezes time per command too).
    pub now: u64,
    map_changed: Option<DbMap>,
    /// The last (logical, physical) db pair looked up: the map changes only under the
    /// write lock this transaction holds, and only through `map_changed`, so a lookup
    /// per record (RESTORE writes 200k) need not take the map's lock each time.
    phys_cache: std::cell::Cell<Option<(usize, u8)>>,
}

impl Txn<'_> {
    /// Physical id of logical db `db`, as this transaction sees the map.
    pub fn phys(&self, db: usize) -> u8 {
        match &self.map_changed {
            Some(m) => m.map[db],
            None => match self.phys_cache.get() {
                Some((d, p)) if d == db => p,
                _ => {
                    let p = self.store.phys(db);
                    self.phys_cache.set(Some((db, p)));
                    p
                }
            },
        }
    }

    /// The key's metadata, expired or not, without deleting an expired key (WATCH
    /// looks without touching).
    pub fn peek(&mut self, db: usize, key: &[u8]) -> Result<Option<Meta>> {
        let phys = self.phys(db);
        self.raw_phys(phys, key)
    }

    /// A write of `key` in physical db `phys` (see [`Store::touch`]).
    fn touch_phys(&self, phys: u8, key: &[u8], exists: bool) {
        if !self.store.watching() {
            return;
        }
        for db in 0..self.store.databases() {
            if self.phys(db) == phys {
                self.store.touch(db, key, exists);
            }
        }
    }

    /// A write of a sub-record of `key` in logical db `db` (the key exists after it).
    fn touch_sub(&self, db: usize, key: &[u8]) {
        if self.store.watching() {
            self.store.touch(db, key, true);
        }
    }

    /// FLUSHDB of `db` (`other` None) or SWAPDB of `db` with `other`: the watched keys
    /// of `db` that existed in it, or exist in the database taking its place, are
    /// modified (Redis 7.0's `touchAllWatchedKeysInDb`, with its handling of keys
    /// expired when watched).
    fn touch_db(&mut self, db: usize, other: Option<usize>) -> Result<()> {
        if !self.store.watching() {
            return Ok(());
        }
        let keys: Vec<Vec<u8>> = lock(&self.store.watches)[db].keys().cloned().collect();
        for key in keys {
            let here = self.peek(db, &key)?;
            let there = match other {
                Some(o) => self.peek(o, &key)?,
                None => None,
            };
            if here.is_none() && there.is_none() {
                continue;
            }
            let there_expired = there.as_ref().is_some_and(|m| m.expired(self.now));
            let mut w = lock(&self.store.watches);
            let Some(list) = w[db].get_mut(key.as_slice()) else {
                continue;
            };
            for x in list {
                if x.expired {
                    if there.is_none() {
                        x.expired = false;
                        continue;
                    }
                    if there_expired {
                        continue;
                    }
                } else if here.is_none() && there_expired {
                    x.expired = true;
                    continue;
                }
                x.dirty.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    /// The key's metadata as this transaction sees it, expired or not. Reads are
    /// remembered, so a command that looks at a key and then writes it reads it once.
    fn raw_phys(&mut self, phys: u8, key: &[u8]) -> Result<Option<Meta>> {
        metadata_key_into(&mut self.mk_buf, phys, key);
        if let Some(slot) = self.overlay.get(self.mk_buf.as_slice()) {
            return Ok(slot.meta.clone());
        }
        self.raw_mk_miss(self.mk_buf.clone())
    }

    /// `raw_phys` for a key not in the overlay, by metadata key (kept as the overlay's
    /// key).
    fn raw_mk_miss(&mut self, mk: Vec<u8>) -> Result<Option<Meta>> {
        if let Some(slot) = self.pending.metas.get(&mk) {
            let m = slot.meta.clone();
            // Clean here: the pending writes keep their own dirty flag (merge ORs).
            self.overlay.insert(
                mk,
                Slot {
                    meta: m.clone(),
                    dirty: false,
                },
            );
            return Ok(m);
        }
        let m = match self.store.db.get(&mk)? {
            None => None,
            Some(raw) => Some(Meta::decode(&raw)?),
        };
        self.overlay.insert(
            mk,
            Slot {
                meta: m.clone(),
                dirty: false,
            },
        );
        Ok(m)
    }

    /// Record a write of the key's metadata (the key was read before): in the batch,
    /// or, deferred, as a dirty overlay entry.
    fn write_meta(&mut self, mk: Vec<u8>, m: Option<Meta>) {
        if !self.deferred {
            match &m {
                Some(m) => self.batch.put_parts(&mk, &[&m.header_bytes(), &m.body]),
                None => self.batch.delete(&mk),
            }
        }
        let slot = Slot {
            meta: m,
            dirty: self.deferred,
        };
        // One hash of the key (a lookup, then an insert, would hash it twice).
        self.overlay.insert(mk, slot);
    }

    /// [`Txn::write_meta`] of the key in `mk_buf`, without an owned copy of it when
    /// the overlay holds it already (the command read the key before writing it).
    fn write_meta_buf(&mut self, m: Option<Meta>) {
        match self.overlay.get_mut(self.mk_buf.as_slice()) {
            Some(slot) if self.deferred => {
                *slot = Slot {
                    meta: m,
                    dirty: true,
                }
            }
            _ => self.write_meta(self.mk_buf.clone(), m),
        }
    }

    /// The live metadata of `key` in logical db `db`. An expired key met here is
    /// deleted (Redis's lazy expiry), even if the command then changes nothing.
    pub fn get(&mut self, db: usize, key: &[u8]) -> Result<Option<Meta>> {
        let phys = self.phys(db);
        self.lazy_expire_phys(phys, key)
    }

    fn lazy_expire_phys(&mut self, phys: u8, key: &[u8]) -> Result<Option<Meta>> {
        match self.raw_phys(phys, key)? {
            Some(m) if m.expired(self.now) && self.store.expiry_paused(self.now) => Ok(None),
            Some(m) if m.expired(self.now) => {
                self.del_phys(phys, key, &m);
                self.store.expired_keys.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            m => Ok(m),
        }
    }

    /// Write `key`'s metadata (replacing whatever was there).
    pub fn put(&mut self, db: usize, key: &[u8], meta: Meta) -> Result<()> {
        self.put_inner(db, key, meta, false)
    }

    /// [`Txn::put`], or with `unless_same`, nothing when the key holds exactly `meta`
    /// already (looked up in the overlay the put reads anyway).
    fn put_inner(&mut self, db: usize, key: &[u8], meta: Meta, unless_same: bool) -> Result<()> {
        let phys = self.phys(db);
        metadata_key_into(&mut self.mk_buf, phys, key);
        let known = match self.overlay.get(self.mk_buf.as_slice()) {
            Some(slot) if unless_same && slot.meta.as_ref() == Some(&meta) => return Ok(()),
            Some(slot) => Some(slot.ttl_state()),
            None => self
                .pending
                .metas
                .get(self.mk_buf.as_slice())
                .map(Slot::ttl_state),
        };
        self.lazy_only = false;
        let old = match known {
            Some(old) => old,
            None => Self::stored_ttl(self.store.db.get(&self.mk_buf)?)?,
        };
        self.count_put(phys, key, &meta, old);
        self.write_meta_buf(Some(meta));
        Ok(())
    }

    /// [`Txn::put`], unless the key holds exactly `meta` already (a collection command
    /// that changed nothing rewrites nothing, and touches no WATCH, as in Redis).
    pub fn put_if_changed(&mut self, db: usize, key: &[u8], meta: Meta) -> Result<()> {
        // The command read the key first, so its metadata is in the overlay; a key
        // that is not there is written (it was not read, so it is not known to match).
        self.put_inner(db, key, meta, true)
    }

    /// Mark `key` modified for its watchers, whatever was written (SMOVE's destination
    /// that held the member already: Redis signals it all the same).
    pub fn touch(&self, db: usize, key: &[u8]) {
        self.touch_sub(db, key);
    }

    /// [`Txn::put`] of each pair in turn, with the engine lookups of all the keys done
    /// at once ([`strata_lsm::Db::get_many`]: their cache misses overlap), as MSET
    /// needs.
    pub fn put_many(&mut self, db: usize, pairs: Vec<(&[u8], Meta)>) -> Result<()> {
        self.lazy_only = false;
        let phys = self.phys(db);
        let mks: Vec<Vec<u8>> = pairs.iter().map(|(k, _)| metadata_key(phys, k)).collect();
        let known: Vec<Option<Option<bool>>> = mks.iter().map(|mk| self.known_ttl(mk)).collect();
        // The engine is asked about the keys the first pass did not know, in order; only
        // whether the key has a TTL is read from each record.
        let refs: Vec<&[u8]> = mks
            .iter()
            .zip(&known)
            .filter(|(_, k)| k.is_none())
            .map(|(mk, _)| mk.as_slice())
            .collect();
        let mut answers = self
            .store
            .db
            .get_many_with(&refs, |raw| Meta::decode_expire(raw).map(|e| e != 0))?
            .into_iter();
        for (((key, meta), mk), known) in pairs.into_iter().zip(mks).zip(known) {
            let stored = if known.is_none() {
                answers.next().flatten()
            } else {
                None
            };
            // A key named again later in `pairs` is in the overlay by then, and takes
            // what the first put of it wrote; a key not in the overlay is as the first
            // pass found it.
            let old = match (self.overlay.get(&mk), known) {
                (Some(slot), _) => slot.ttl_state(),
                (None, Some(old)) => old,
                (None, None) => stored.transpose()?,
            };
            self.put_over(phys, mk, key, meta, old)?;
        }
        Ok(())
    }

    /// Whether the key of metadata key `mk` exists and has a TTL, as far as this
    /// transaction's overlay and the pending writes know; None if they do not.
    /// Only that matters to a put: no copy of the old body (and no overlay entry for
    /// the old value, which the put replaces).
    fn known_ttl(&self, mk: &[u8]) -> Option<Option<bool>> {
        match self.overlay.get(mk) {
            Some(slot) => Some(slot.ttl_state()),
            None => self.pending.metas.get(mk).map(Slot::ttl_state),
        }
    }

    /// The same for a record read from the engine.
    fn stored_ttl(raw: Option<Vec<u8>>) -> Result<Option<bool>> {
        raw.map(|raw| Meta::decode_expire(&raw).map(|e| e != 0))
            .transpose()
    }

    /// Write `meta` over a key whose existence and TTL (`old`) are known.
    fn put_over(
        &mut self,
        phys: u8,
        mk: Vec<u8>,
        key: &[u8],
        meta: Meta,
        old: Option<bool>,
    ) -> Result<()> {
        self.count_put(phys, key, &meta, old);
        self.write_meta(mk, Some(meta));
        Ok(())
    }

    /// The key counts and the expiry index entry of a put of `meta` over a key whose
    /// existence and TTL (`old`) are known.
    fn count_put(&mut self, phys: u8, key: &[u8], meta: &Meta, old: Option<bool>) {
        self.touch_phys(phys, key, true);
        let d = self.deltas.entry(phys).or_default();
        if old.is_none() {
            d.keys += 1;
        }
        d.expires += i64::from(meta.expire != 0) - i64::from(old == Some(true));
        if meta.expire != 0 {
            self.batch
                .put(&expire_index_key(meta.expire, phys, key), b"");
        }
    }

    /// Delete `key`; true if it existed and was live.
    pub fn del(&mut self, db: usize, key: &[u8]) -> Result<bool> {
        self.lazy_only = false;
        let phys = self.phys(db);
        match self.raw_phys(phys, key)? {
            None => Ok(false),
            Some(m) => {
                let live = !m.expired(self.now);
                self.del_phys(phys, key, &m);
                Ok(live)
            }
        }
    }

    fn del_phys(&mut self, phys: u8, key: &[u8], old: &Meta) {
        self.touch_phys(phys, key, false);
        let d = self.deltas.entry(phys).or_default();
        d.keys -= 1;
        d.expires -= i64::from(old.expire != 0);
        metadata_key_into(&mut self.mk_buf, phys, key);
        self.write_meta_buf(None);
    }

    /// A fresh collection version, never used before by any key. Reservations are
    /// persisted in this transaction's batch, so a version written is always below the
    /// persisted bound.
    pub fn new_version(&mut self) -> u64 {
        self.lazy_only = false;
        let mut v = lock(&self.store.versions);
        if v.0 >= v.1 {
            self.reserved_from.get_or_insert(v.1);
            v.1 = v.0 + VERSION_BLOCK;
            self.batch.put(VERSION_KEY, &v.1.to_le_bytes());
        }
        v.0 += 1;
        v.0 - 1
    }

    /// A sub-record's value, as this transaction sees it.
    pub fn sub_get(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.remembered_sub(db, key, version, field) {
            return Ok(v);
        }
        // Not remembered: while the write lock is held the engine changes only through
        // this transaction's commit, and its own writes are in `subs`.
        self.settle_fresh()?;
        Ok(self.store.db.get(&self.key_buf)?)
    }

    /// Before the sub-record whose key is in `key_buf` (and, for a run, those around
    /// it) is read from the engine: apply the pending writes when they hold fresh
    /// writes ([`Txn::sub_put_fresh`], [`Txn::sub_del_fresh`]), which no map remembers.
    /// This transaction's own fresh writes are not in the engine yet: it never reads a
    /// key it wrote so (a pop reads the next position after deleting one).
    fn settle_fresh(&mut self) -> Result<()> {
        #[cfg(debug_assertions)]
        assert!(
            !self.fresh_keys.contains(&self.key_buf),
            "a transaction reads a sub-record it wrote fresh"
        );
        if self.pending.fresh {
            self.store.apply_pending(&mut self.pending)?;
        }
        Ok(())
    }

    /// A sub-record as this transaction's writes or the pending writes leave it (None
    /// when neither wrote it); its key is left in `key_buf`.
    fn remembered_sub(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
    ) -> Option<Option<Vec<u8>>> {
        let phys = self.phys(db);
        sub_key_into(&mut self.key_buf, phys, key, version, field);
        let k = self.key_buf.as_slice();
        self.subs
            .get(k)
            .or_else(|| self.pending.subs.get(k))
            .cloned()
    }

    /// [`Txn::sub_get`] of a record that is one of a run read in field order
    /// (`forward`) or in reverse, one after the other, each read once: a list's pops.
    /// The first such read of a collection version is a point lookup; from the second
    /// on, one engine scan reads this record and up to `READ_AHEAD_RECORDS` after it,
    /// and the reads that follow take them from memory (`ReadAhead`). A record read
    /// ahead is handed out once.
    ///
    /// `reverse_from`, for a reverse run: the lowest field the read-ahead may reach
    /// (a list's `max(head, position - READ_AHEAD_RECORDS)`), when the caller knows
    /// that no more than `READ_AHEAD_RECORDS` records lie between it and `field`. The
    /// run is then read forwards from there and turned round: a reverse scan costs
    /// about half as much again per record.
    pub fn sub_get_run(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
        forward: bool,
        reverse_from: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.remembered_sub(db, key, version, field) {
            return Ok(v);
        }
        {
            // Every write forgets its key in the read-ahead: what it holds is current.
            let k = self.key_buf.as_slice();
            let ahead = &mut self.pending.ahead;
            if ahead.forward == forward && ahead.prefix == k[..k.len() - field.len()] {
                if let Some(v) = ahead.take(k) {
                    return Ok(Some(v));
                }
            }
        }
        self.settle_fresh()?;
        let k = self.key_buf.as_slice();
        let prefix = &k[..k.len() - field.len()];
        let ahead = &mut self.pending.ahead;
        if ahead.prefix != prefix {
            // A run starts (or reads of several collections alternate): no scan yet.
            ahead.clear();
            ahead.prefix.extend_from_slice(prefix);
            return Ok(self.store.db.get(k)?);
        }
        ahead.run.clear();
        ahead.forward = forward;
        if self.unread || self.pending.unread {
            // Unapplied writes the scan could not skip: the engine's values of their
            // keys are stale.
            return Ok(self.store.db.get(k)?);
        }
        // This record, then the run after it (before it, in reverse).
        let prefix_len = prefix.len();
        let mut rk = prefix.to_vec();
        let mut after = field.to_vec();
        after.push(0);
        let (lower, upper) = if forward {
            (Some(field), None)
        } else {
            (None, Some(after.as_slice()))
        };
        let phys = self.phys(db);
        let (store, subs, pending) = (self.store, &self.subs, &mut self.pending);
        let mut found = None;
        if let (false, Some(from)) = (forward, reverse_from) {
            // Forwards from `from`, keeping the records nearest `field` that fit the
            // read-ahead's bounds (those a reverse scan from `field` would keep, but
            // for records written since, which count here and are then left out).
            let mut kept: VecDeque<(Vec<u8>, Vec<u8>)> = VecDeque::new();
            let mut bytes = 0;
            store.sub_scan(phys, key, version, Some(from), upper, false, |f, v| {
                if f == field {
                    found = Some(v.to_vec());
                    return false;
                }
                if v.len() > READ_AHEAD_BYTES {
                    // Not held, and nothing farther from `field` than it is either.
                    kept.clear();
                    bytes = 0;
                    return true;
                }
                kept.push_back((f.to_vec(), v.to_vec()));
                bytes += v.len();
                while bytes > READ_AHEAD_BYTES || kept.len() > READ_AHEAD_RECORDS {
                    if let Some((_, old)) = kept.pop_front() {
                        bytes -= old.len();
                    }
                }
                true
            })?;
            for (f, v) in kept.into_iter().rev() {
                rk.truncate(prefix_len);
                rk.extend_from_slice(&f);
                // (A key written since is not kept: its engine value is stale.)
                if !subs.contains_key(&rk) && !pending.subs.contains_key(&rk) {
                    pending.ahead.run.push_back((rk.clone(), v));
                }
            }
            return Ok(found);
        }
        let (mut records, mut bytes) = (0, 0);
        store.sub_scan(phys, key, version, lower, upper, !forward, |f, v| {
            if records > READ_AHEAD_RECORDS {
                return false;
            }
            records += 1;
            if f == field {
                found = Some(v.to_vec());
                return true;
            }
            if bytes + v.len() > READ_AHEAD_BYTES {
                // Large elements are not held ahead (a 512 MB one would double the
                // memory a pop needs).
                return false;
            }
            rk.truncate(prefix_len);
            rk.extend_from_slice(f);
            // (A key written since is not kept: its engine value is stale.)
            if !subs.contains_key(&rk) && !pending.subs.contains_key(&rk) {
                pending.ahead.run.push_back((rk.clone(), v.to_vec()));
                bytes += v.len();
            }
            true
        })?;
        Ok(found)
    }

    /// A sub-record's key, built in `key_buf`: a command reads a record before it
    /// writes it, so the key's prefix (and its slot hash) is there already.
    fn owned_sub_key(&mut self, db: usize, key: &[u8], version: u64, field: &[u8]) -> Vec<u8> {
        let phys = self.phys(db);
        sub_key_into(&mut self.key_buf, phys, key, version, field);
        self.key_buf.clone()
    }

    /// Write a sub-record.
    pub fn sub_put(&mut self, db: usize, key: &[u8], version: u64, field: &[u8], value: &[u8]) {
        self.lazy_only = false;
        self.touch_sub(db, key);
        let k = self.owned_sub_key(db, key, version, field);
        self.pending.ahead.forget(&k);
        self.batch.put(&k, value);
        self.subs.insert(k, Some(value.to_vec()));
    }

    /// Write a sub-record of a version this transaction created and has not read
    /// (RESTORE of a new key): no overlay entry, so bulk loads cost only the batch. A
    /// deferred commit after it applies the pending writes at once, since later
    /// transactions could not read such records from the pending writes.
    /// Make room in the batch for `records` sub-records of `key` holding `bytes` of
    /// fields and values in all (a RESTORE writes them in one go).
    pub fn reserve_sub_records(&mut self, key: &[u8], records: usize, bytes: usize) {
        // Per record: tag, two length varints (at most 5 bytes each) and the key's
        // prefix (`sub_key_into`: 16 bytes around the key).
        let per_record = 1 + 5 + 5 + 16 + key.len();
        let need = records.saturating_mul(per_record).saturating_add(bytes);
        // The pending batch keeps the buffer of earlier large writes (up to 16 MiB, see
        // `Db::write_and_clear`): when it is empty and this write is large, this
        // transaction continues in that buffer, whose pages are already faulted in, and
        // `merge_into_pending` hands it back with the records in it.
        if need >= BIG_BATCH
            && self.pending.batch.is_empty()
            && self.pending.batch.capacity() > self.batch.capacity()
        {
            let mut big = std::mem::take(&mut self.pending.batch);
            big.append(&self.batch);
            self.batch.clear();
            std::mem::swap(&mut self.batch, &mut big);
            self.pending.batch = big;
        }
        self.batch.reserve(need);
    }

    pub fn sub_put_new(&mut self, db: usize, key: &[u8], version: u64, field: &[u8], value: &[u8]) {
        self.unindexed = true;
        self.sub_write_unread(db, key, version, field, Some(value));
    }

    /// Write a sub-record at a position of the collection version that holds none and
    /// that no pending write touched (a list push's new end), to the batch alone: a
    /// pipeline of pushes writes hundreds, and an entry for `sub_get` would cost a key
    /// and a value copied and hashed twice for each. A later read of a sub-record from
    /// the engine applies the pending writes first ([`Txn::settle_fresh`]). A key
    /// that this transaction or the pending writes did touch (a position popped and
    /// pushed again before the writes were applied) takes [`Txn::sub_put`].
    ///
    /// The caller does not read the key back in this transaction: its own fresh writes
    /// reach the engine after it commits.
    pub fn sub_put_fresh(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
        value: &[u8],
    ) {
        self.write_fresh(db, key, version, field, Some(value));
    }

    /// Delete a sub-record whose value this transaction just read and which nothing
    /// reads again before the pending writes are applied, unless it is written anew (a
    /// pop's element: the list's ends move past it), to the batch alone, like
    /// [`Txn::sub_put_fresh`]: a later read of it from the engine applies the pending
    /// writes first, and a key the maps hold is deleted through them
    /// ([`Txn::sub_del`]).
    pub fn sub_del_fresh(&mut self, db: usize, key: &[u8], version: u64, field: &[u8]) {
        self.write_fresh(db, key, version, field, None);
    }

    /// [`Txn::sub_put_fresh`] (Some) or [`Txn::sub_del_fresh`] (None).
    fn write_fresh(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
        value: Option<&[u8]>,
    ) {
        let phys = self.phys(db);
        sub_key_into(&mut self.key_buf, phys, key, version, field);
        let k = self.key_buf.as_slice();
        let touched = (!self.subs.is_empty() && self.subs.contains_key(k))
            || (!self.pending.subs.is_empty() && self.pending.subs.contains_key(k));
        if touched {
            match value {
                Some(v) => self.sub_put(db, key, version, field, v),
                None => self.sub_del(db, key, version, field),
            }
            return;
        }
        self.lazy_only = false;
        self.touch_sub(db, key);
        self.fresh = true;
        #[cfg(debug_assertions)]
        self.fresh_keys.push(k.to_vec());
        self.batch_write_key_buf(value);
    }

    /// Write (Some) or delete (None) the sub-record whose key is in `key_buf` in the
    /// batch alone, forgetting it in the read-ahead.
    fn batch_write_key_buf(&mut self, value: Option<&[u8]>) {
        self.pending.ahead.forget(&self.key_buf);
        match value {
            Some(v) => self.batch.put(&self.key_buf, v),
            None => self.batch.delete(&self.key_buf),
        }
    }

    /// Delete a sub-record.
    pub fn sub_del(&mut self, db: usize, key: &[u8], version: u64, field: &[u8]) {
        self.lazy_only = false;
        self.touch_sub(db, key);
        let k = self.owned_sub_key(db, key, version, field);
        self.pending.ahead.forget(&k);
        self.batch.delete(&k);
        self.subs.insert(k, None);
    }

    /// Write (Some) or delete (None) a sub-record that nothing reads back by point
    /// lookup (a sorted set's score index: only scans of committed records read it),
    /// so it goes to the batch alone, without an entry for `sub_get`.
    pub fn sub_write_unread(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        field: &[u8],
        value: Option<&[u8]>,
    ) {
        self.lazy_only = false;
        self.unread = true;
        self.touch_sub(db, key);
        let phys = self.phys(db);
        sub_key_into(&mut self.key_buf, phys, key, version, field);
        self.batch_write_key_buf(value);
    }

    /// Write the sub-records of `version`, a version this transaction just handed out
    /// to a new collection, straight into SSTs ([`Db::bulk_load`]): `fill` gets
    /// `files` writers and gives each its share of the records, in increasing field
    /// order, the shares' field ranges disjoint (it may fill them on several threads).
    /// Answers false when the engine refused the files (nothing loaded: write the
    /// records the usual way).
    ///
    /// The records are in the engine before the metadata that names them, so:
    /// - the version bound covering `version` is made durable first: otherwise a crash
    ///   could hand the version out again, to a collection of the same name, which
    ///   would find these records as its own;
    /// - the compaction filter keeps them until this transaction ends;
    /// - the commit applies at once, also inside `defer_commits`, so the metadata is
    ///   in the engine before the filter stops keeping them.
    ///
    /// If the commit never comes (an error, a crash), the records are unreachable and
    /// compaction drops them.
    pub fn bulk_sub_records(
        &mut self,
        db: usize,
        key: &[u8],
        version: u64,
        files: usize,
        fill: impl FnOnce(&mut [SubRecordFile]) -> strata_lsm::Result<()>,
    ) -> Result<bool> {
        self.lazy_only = false;
        self.unindexed = true;
        let bound = lock(&self.store.versions).1;
        if self.store.durable_bound.load(Ordering::Acquire) <= version {
            let mut b = WriteBatch::new();
            b.put(VERSION_KEY, &bound.to_le_bytes());
            self.store.db.write(WriteOptions { sync: true }, b)?;
            self.store.durable_bound.fetch_max(bound, Ordering::AcqRel);
        }
        if self.loading.is_none() {
            lock(&self.store.loading).push(version);
            self.loading = Some(version);
        }
        self.pending.ahead.clear();
        let prefix = strata_dump::records::sub_prefix(self.phys(db), key, version);
        let mut load = self.store.db.bulk_load()?;
        let mut writers = Vec::with_capacity(files);
        for _ in 0..files {
            writers.push(SubRecordFile {
                part: load.part()?,
                key: prefix.clone(),
                prefix: prefix.len(),
            });
        }
        fill(&mut writers)?;
        Ok(load.finish_with(writers.into_iter().map(|w| w.part).collect())?)
    }

    /// The store (for reads that iterate committed sub-records).
    pub fn store(&self) -> &Store {
        self.store
    }

    /// FLUSHDB: give logical db `db` a fresh physical id; the old id's records are
    /// retired (invisible at once, dropped by compaction).
    pub fn flush_db(&mut self, db: usize) -> Result<()> {
        self.lazy_only = false;
        self.touch_db(db, None)?;
        self.pending.ahead.clear();
        let mut map = self
            .map_changed
            .clone()
            .unwrap_or_else(|| self.store.read_map().clone());
        let old = map.map[db];
        let Some(fresh) = map.free_id() else {
            // Every id was used since the last FLUSHALL: fall back to deleting the old
            // database's records slot by slot (rare: after 240 FLUSHDBs).
            self.flush_slotwise(old)?;
            return Ok(());
        };
        map.retired[old as usize] = true;
        map.map[db] = fresh;
        self.deltas.insert(old, Counts::default());
        // Metadata keys hold the physical id at byte 2.
        self.overlay.retain(|mk, _| mk.get(2) != Some(&old));
        self.map_changed = Some(map);
        Ok(())
    }

    fn flush_slotwise(&mut self, phys: u8) -> Result<()> {
        let mut it = self.store.db.iter(IterOptions {
            lower: Some(vec![0, 0]),
            upper: Some(SLOTS_END.to_vec()),
            ..Default::default()
        })?;
        for slot in 0..16384u16 {
            let (lo, hi) = keys::slot_range(slot);
            let mut start = lo.clone();
            start.push(phys);
            let mut end = lo;
            end.push(phys.wrapping_add(1));
            if phys == 255 {
                end = hi;
            }
            it.seek(&start);
            if it.valid() && it.key() < end.as_slice() {
                self.batch.delete_range(&start, &end);
            }
        }
        it.status()?;
        let d = self.deltas.entry(phys).or_default();
        let c = lock(&self.store.counts)[phys as usize];
        d.keys = -c.keys;
        d.expires = -c.expires;
        Ok(())
    }

    /// FLUSHALL: every record of every database and the expiry index, in two range
    /// deletions.
    pub fn flush_all(&mut self) -> Result<()> {
        self.lazy_only = false;
        for db in 0..self.store.databases() {
            self.touch_db(db, None)?;
        }
        self.pending.ahead.clear();
        self.batch.delete_range(&[0, 0], &SLOTS_END);
        let mut end = EXPIRE_PREFIX.to_vec();
        end[1] += 1;
        self.batch.delete_range(&EXPIRE_PREFIX, &end);
        let n = self.store.databases();
        self.map_changed = Some(DbMap::identity(n));
        self.overlay.clear();
        let counts = lock(&self.store.counts).clone();
        self.deltas.clear();
        for (i, c) in counts.iter().enumerate() {
            self.deltas.insert(
                i as u8,
                Counts {
                    keys: -c.keys,
                    expires: -c.expires,
                },
            );
        }
        Ok(())
    }

    /// SWAPDB.
    pub fn swap_db(&mut self, a: usize, b: usize) -> Result<()> {
        self.lazy_only = false;
        self.touch_db(a, Some(b))?;
        self.touch_db(b, Some(a))?;
        let mut map = self
            .map_changed
            .clone()
            .unwrap_or_else(|| self.store.read_map().clone());
        map.map.swap(a, b);
        self.map_changed = Some(map);
        Ok(())
    }

    /// Apply everything atomically.
    pub fn commit(mut self) -> Result<()> {
        self.commit_inner()
    }

    fn commit_inner(&mut self) -> Result<()> {
        self.committed = true;
        if let Some(m) = &self.map_changed {
            self.batch.put(DBMAP_KEY, &m.encode());
        }
        self.merge_into_pending();
        if self.deferred && self.map_changed.is_none() {
            self.store.has_pending.store(true, Ordering::Release);
            if self.unindexed
                || self.pending.batch.approximate_size() >= PENDING_LIMIT
                || self.pending.metas.len() >= PENDING_METAS
            {
                self.store.apply_pending(&mut self.pending)?;
            }
            return Ok(());
        }
        self.store.apply_pending(&mut self.pending)?;
        if let Some(m) = self.map_changed.take() {
            self.phys_cache.set(None);
            *self
                .store
                .retired
                .write()
                .unwrap_or_else(|e| e.into_inner()) = m.retired.clone();
            *self.store.dbmap.write().unwrap_or_else(|e| e.into_inner()) = m;
        }
        // A FLUSHALL resets counts exactly (its deltas cancel the old counts out).
        Ok(())
    }

    /// Move this transaction's writes (and what it read) into the pending writes.
    fn merge_into_pending(&mut self) {
        let p = &mut *self.pending;
        // A big batch (a RESTORE's) moves instead of being copied, and so does one in a
        // bigger buffer than the pending batch's (borrowed from it by
        // `reserve_sub_records`); a small one is copied, so the pending batch keeps its
        // buffer.
        if p.batch.is_empty()
            && (self.batch.approximate_size() >= BIG_BATCH
                || self.batch.capacity() > p.batch.capacity())
        {
            std::mem::swap(&mut p.batch, &mut self.batch);
        } else {
            p.batch.append(&self.batch);
            self.batch.clear();
        }
        for (mk, slot) in self.overlay.drain() {
            match p.metas.get_mut(&mk) {
                Some(s) => {
                    s.dirty |= slot.dirty;
                    s.meta = slot.meta;
                }
                None => {
                    p.metas.insert(mk, slot);
                }
            }
        }
        p.subs.extend(self.subs.drain());
        p.unread |= self.unread;
        p.fresh |= self.fresh;
        for (phys, d) in self.deltas.drain() {
            let e = p.deltas.entry(phys).or_default();
            e.keys += d.keys;
            e.expires += d.expires;
        }
        if let Some(bound) = self.reserved_from.take() {
            p.reserved_from.get_or_insert(bound);
        }
    }
}

/// One file of a collection version's bulk-loaded sub-records
/// ([`Txn::bulk_sub_records`]); it may be filled on another thread.
pub struct SubRecordFile {
    part: strata_lsm::BulkPart,
    /// The record key being written: the version's prefix, then the field.
    key: Vec<u8>,
    prefix: usize,
}

impl SubRecordFile {
    /// The next record (fields strictly increasing).
    pub fn put(&mut self, field: &[u8], value: &[u8]) -> strata_lsm::Result<()> {
        self.key.truncate(self.prefix);
        self.key.extend_from_slice(field);
        self.part.put(&self.key, value)
    }

    /// Finish and fsync the file (else the commit of the load does it).
    pub fn seal(&mut self) -> strata_lsm::Result<()> {
        self.part.seal()
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if let Some(v) = self.loading.take() {
            lock(&self.store.loading).retain(|&l| l != v);
        }
        if !self.committed {
            if let Some(bound) = self.reserved_from.take() {
                lock(&self.store.versions).1 = bound;
            }
        }
        let wrote = !self.batch.is_empty() || self.overlay.values().any(|s| s.dirty);
        if !self.committed && self.lazy_only && wrote {
            if let Err(e) = self.commit_inner() {
                crate::log::warning(format_args!("lazy expiry: {e}"));
            }
        }
        let mut spare = Spare {
            overlay: std::mem::take(&mut self.overlay),
            subs: std::mem::take(&mut self.subs),
            deltas: std::mem::take(&mut self.deltas),
            key_buf: std::mem::take(&mut self.key_buf),
            mk_buf: std::mem::take(&mut self.mk_buf),
            batch: None,
        };
        // (Empty after a commit; an abandoned transaction's writes are discarded.)
        spare.overlay.clear();
        spare.subs.clear();
        spare.deltas.clear();
        // Only a batch that grew past a new one's room is worth keeping (taking it
        // costs a new one's allocation).
        let grown = self.batch.capacity() > WriteBatch::NEW_ROOM;
        if grown && self.batch.capacity() <= SPARE_BATCH_BYTES {
            let mut batch = std::mem::take(&mut self.batch);
            batch.clear();
            spare.batch = Some(batch);
        }
        if spare.overlay.capacity() > SPARE_ENTRIES {
            spare.overlay = FastMap::default();
        }
        if spare.subs.capacity() > SPARE_ENTRIES {
            spare.subs = FastMap::default();
        }
        if spare.key_buf.capacity() > SPARE_KEY_BYTES {
            spare.key_buf = Vec::new();
        }
        if spare.mk_buf.capacity() > SPARE_KEY_BYTES {
            spare.mk_buf = Vec::new();
        }
        self.pending.spare = spare;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(tag: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("strata-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (
            Store::open(&dir, strata_lsm::Options::default(), 16).unwrap(),
            dir,
        )
    }

    #[test]
    fn put_get_delete_counts() {
        let (s, dir) = open("basic");
        let mut t = s.txn();
        t.put(0, b"a", Meta::string(b"1".to_vec(), 0)).unwrap();
        t.put(0, b"a", Meta::string(b"2".to_vec(), 0)).unwrap();
        t.put(0, b"b", Meta::string(b"x".to_vec(), now_ms() + 100_000))
            .unwrap();
        t.commit().unwrap();
        assert_eq!(s.get(0, b"a").unwrap().unwrap().body, b"2");
        assert_eq!(s.counts(0).keys, 2);
        assert_eq!(s.counts(0).expires, 1);
        let mut t = s.txn();
        assert!(t.del(0, b"a").unwrap());
        assert!(!t.del(0, b"zz").unwrap());
        t.commit().unwrap();
        assert_eq!(s.counts(0).keys, 1);
        drop(s);
        let s = Store::open(&dir, strata_lsm::Options::default(), 16).unwrap();
        assert_eq!(s.counts(0).keys, 1);
        assert_eq!(s.counts(0).expires, 1);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Bulk-loaded sub-records are in the engine before their metadata: the version
    /// bound is durable first, and the compaction filter keeps them while the load's
    /// transaction lives, and afterwards only if the metadata names their version.
    #[test]
    fn bulk_loaded_records_wait_for_their_metadata() {
        let (s, dir) = open("bulk");
        let filter = Filter::new(
            Arc::new(RwLock::new(vec![false; PHYS_IDS])),
            Arc::clone(&s.loading),
        );
        let _ = filter.db.set(Arc::downgrade(&s.db));
        let phys = s.phys(0);
        let fill = |files: &mut [SubRecordFile]| {
            files[0].put(b"f1", b"v1")?;
            files[1].put(b"f2", b"v2")
        };
        // Loaded, never committed.
        let mut t = s.txn();
        let v = t.new_version();
        assert!(t.bulk_sub_records(0, b"big", v, 2, fill).unwrap());
        let bound = s.db.get(VERSION_KEY).unwrap().unwrap();
        assert!(u64::from_le_bytes(bound.try_into().unwrap()) > v);
        assert_eq!(*lock(&s.loading), vec![v]);
        let rec = sub_key(phys, b"big", v, b"f1");
        assert_eq!(filter.filter(0, &rec, b"v1"), Decision::Keep);
        drop(t);
        assert!(lock(&s.loading).is_empty());
        // The cached keep holds for at most KEEP_CHECK_EVERY more uses.
        let decisions: Vec<Decision> = (0..=KEEP_CHECK_EVERY)
            .map(|_| filter.filter(0, &rec, b"v1"))
            .collect();
        assert_eq!(decisions.last(), Some(&Decision::Remove));
        // Loaded and committed: kept for good.
        let mut t = s.txn();
        let w = t.new_version();
        assert!(t.bulk_sub_records(0, b"big", w, 2, fill).unwrap());
        let h = Coll {
            flags: 0,
            version: w,
            count: 2,
            head: LIST_MIDDLE,
            tail: LIST_MIDDLE,
        };
        t.put(0, b"big", Meta::coll(Kind::Hash, &h, 0)).unwrap();
        t.commit().unwrap();
        assert!(lock(&s.loading).is_empty());
        let rec = sub_key(phys, b"big", w, b"f2");
        assert_eq!(filter.filter(0, &rec, b"v2"), Decision::Keep);
        assert_eq!(s.db.get(&rec).unwrap(), Some(b"v2".to_vec()));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A transaction's maps go to the next one (`Spare`), but what an abandoned
    /// transaction wrote does not: neither its metadata, nor its sub-records, nor its
    /// key counts.
    #[test]
    fn an_abandoned_transactions_writes_do_not_reach_the_next() {
        let (s, dir) = open("spare");
        let mut t = s.txn();
        let v = t.new_version();
        t.put(0, b"k", Meta::string(b"1".to_vec(), 0)).unwrap();
        // A value large enough that the batch grows, and is kept for the next one.
        t.sub_put(0, b"h", v, b"f", &[b'x'; 100]);
        drop(t);
        let mut t = s.txn();
        assert!(t.get(0, b"k").unwrap().is_none());
        assert_eq!(t.sub_get(0, b"h", v, b"f").unwrap(), None);
        t.put(0, b"j", Meta::string(b"2".to_vec(), 0)).unwrap();
        t.commit().unwrap();
        assert_eq!(s.counts(0).keys, 1);
        assert!(s.get(0, b"k").unwrap().is_none());
        assert_eq!(s.txn().sub_get(0, b"h", v, b"f").unwrap(), None);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A run of reads (`sub_get_run`) is read ahead from the engine, but never hands
    /// out a record's engine value when a write of it is pending: one kept in the
    /// pending sub-records is skipped by the scan, and one that is not (an unread
    /// write) stops the scan altogether.
    #[test]
    fn read_ahead_never_hands_out_a_stale_record() {
        // Reverse runs read backwards, and read forwards from a lower bound.
        for reverse_from in [false, true] {
            let (s, dir) = open(if reverse_from { "ahead-from" } else { "ahead" });
            let field = |i: u32| format!("f{i:03}").into_bytes();
            let old = |i: u32| format!("v{i}").into_bytes();
            let mut t = s.txn();
            let (v, w) = (t.new_version(), t.new_version());
            for version in [v, w] {
                for i in 0..100 {
                    t.sub_put(0, b"l", version, &field(i), &old(i));
                }
            }
            t.commit().unwrap();
            let run = |version: u64, from: u32, to: u32| {
                let mut t = s.txn();
                let got: Vec<_> = (to..=from)
                    .rev()
                    .map(|i| {
                        let from = field(i.saturating_sub(60));
                        let from = reverse_from.then_some(from.as_slice());
                        t.sub_get_run(0, b"l", version, &field(i), false, from)
                            .unwrap()
                    })
                    .collect();
                got
            };
            defer_commits(|| {
                // A pending write kept in the pending sub-records.
                let mut t = s.txn();
                t.sub_put(0, b"l", v, &field(50), b"new");
                t.commit().unwrap();
                assert_eq!(run(v, 99, 98), vec![Some(old(99)), Some(old(98))]);
                s.flush_pending().unwrap();
                assert_eq!(
                    run(v, 51, 49),
                    vec![Some(old(51)), Some(b"new".to_vec()), Some(old(49))]
                );
                // A write to a record read ahead and not yet handed out; and deletes of
                // records just handed out (a pop's), which lie before the run.
                assert_eq!(run(v, 48, 47), vec![Some(old(48)), Some(old(47))]);
                let mut t = s.txn();
                t.sub_put(0, b"l", v, &field(40), b"newer");
                t.sub_del(0, b"l", v, &field(47));
                t.commit().unwrap();
                s.flush_pending().unwrap();
                let mut want: Vec<_> = (41..=46).rev().map(|i| Some(old(i))).collect();
                want.extend([Some(b"newer".to_vec()), Some(old(39))]);
                assert_eq!(run(v, 46, 39), want);
                // A pending write that is not.
                let mut t = s.txn();
                t.sub_write_unread(0, b"l", w, &field(40), Some(b"new"));
                t.commit().unwrap();
                assert_eq!(run(w, 99, 98), vec![Some(old(99)), Some(old(98))]);
                s.flush_pending().unwrap();
                assert_eq!(
                    run(w, 41, 39),
                    vec![Some(old(41)), Some(b"new".to_vec()), Some(old(39))]
                );
                // The same in a forward run (a list's LPOPs).
                let forward = |from: u32, to: u32| {
                    let mut t = s.txn();
                    let got: Vec<_> = (from..=to)
                        .map(|i| t.sub_get_run(0, b"l", w, &field(i), true, None).unwrap())
                        .collect();
                    got
                };
                assert_eq!(forward(0, 1), vec![Some(old(0)), Some(old(1))]);
                let mut t = s.txn();
                t.sub_put(0, b"l", w, &field(10), b"newer");
                t.sub_del(0, b"l", w, &field(1));
                t.commit().unwrap();
                s.flush_pending().unwrap();
                let mut want: Vec<_> = (2..10).map(|i| Some(old(i))).collect();
                want.extend([Some(b"newer".to_vec()), Some(old(11))]);
                assert_eq!(forward(2, 11), want);
            });
            drop(s);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Fresh writes (`sub_put_fresh`, `sub_del_fresh`: a list's pushes and pops) are in
    /// no map, yet every read sees them before the pending writes are applied: a point
    /// read and a run's read apply them first; a key the maps hold is written through
    /// them; an abandoned transaction's fresh writes go nowhere.
    #[test]
    fn fresh_writes_are_read_before_they_are_applied() {
        let (s, dir) = open("fresh");
        let field = |i: u32| format!("f{i:03}").into_bytes();
        let mut t = s.txn();
        let v = t.new_version();
        for i in 0..100 {
            t.sub_put(0, b"l", v, &field(i), format!("v{i}").as_bytes());
        }
        t.commit().unwrap();
        defer_commits(|| {
            // Two pops from the end, read ahead, still pending.
            let mut t = s.txn();
            for i in [99, 98] {
                let from = field(i - 50);
                let got = t.sub_get_run(0, b"l", v, &field(i), false, Some(&from));
                assert_eq!(got.unwrap(), Some(format!("v{i}").into_bytes()));
                t.sub_del(0, b"l", v, &field(i));
            }
            t.commit().unwrap();
            // Pushed back over a pending pop, and past the old end.
            let mut t = s.txn();
            t.sub_put_fresh(0, b"l", v, &field(98), b"again");
            t.sub_put_fresh(0, b"l", v, &field(100), b"new");
            t.commit().unwrap();
            let mut t = s.txn();
            t.sub_put_fresh(0, b"l", v, &field(101), b"dropped");
            drop(t);
            assert!(s.has_pending.load(Ordering::Acquire));
            let mut t = s.txn();
            assert_eq!(
                t.sub_get(0, b"l", v, &field(98)).unwrap(),
                Some(b"again".to_vec())
            );
            assert_eq!(t.sub_get(0, b"l", v, &field(99)).unwrap(), None);
            assert_eq!(
                t.sub_get(0, b"l", v, &field(100)).unwrap(),
                Some(b"new".to_vec())
            );
            assert_eq!(t.sub_get(0, b"l", v, &field(101)).unwrap(), None);
            drop(t);
            // Pops that delete without the maps (the pending writes are applied by
            // now): two read ahead, one of them pushed back, and one over a pending
            // write that the maps hold.
            let mut t = s.txn();
            t.sub_put(0, b"l", v, &field(95), b"mapped");
            t.commit().unwrap();
            let mut t = s.txn();
            for i in [97, 96, 95] {
                let got = t.sub_get_run(0, b"l", v, &field(i), false, Some(&field(i - 50)));
                let want = match i {
                    95 => b"mapped".to_vec(),
                    i => format!("v{i}").into_bytes(),
                };
                assert_eq!(got.unwrap(), Some(want));
                t.sub_del_fresh(0, b"l", v, &field(i));
            }
            t.commit().unwrap();
            let mut t = s.txn();
            t.sub_put_fresh(0, b"l", v, &field(96), b"back");
            t.commit().unwrap();
            let mut t = s.txn();
            assert_eq!(t.sub_get(0, b"l", v, &field(95)).unwrap(), None);
            assert_eq!(t.sub_get(0, b"l", v, &field(97)).unwrap(), None);
            let got = t.sub_get(0, b"l", v, &field(96)).unwrap();
            assert_eq!(got, Some(b"back".to_vec()));
            drop(t);
            // A run's read right after a fresh write.
            let mut t = s.txn();
            t.sub_put_fresh(0, b"l", v, &field(102), b"newer");
            t.commit().unwrap();
            let mut t = s.txn();
            let got = t.sub_get_run(0, b"l", v, &field(102), false, Some(&field(60)));
            assert_eq!(got.unwrap(), Some(b"newer".to_vec()));
        });
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reverse run read forwards from a lower bound over records too large to hold
    /// ahead (one over the byte bound, several that fill it): every read answers the
    /// record's value.
    #[test]
    fn reverse_runs_over_large_records_read_right() {
        let (s, dir) = open("ahead-large");
        let field = |i: u32| format!("f{i:03}").into_bytes();
        let value = |i: u32| {
            let len = match i % 5 {
                0 => READ_AHEAD_BYTES + 1,
                1 => READ_AHEAD_BYTES / 3,
                _ => 100,
            };
            vec![i as u8; len]
        };
        let mut t = s.txn();
        let v = t.new_version();
        for i in 0..40 {
            t.sub_put(0, b"l", v, &field(i), &value(i));
        }
        t.commit().unwrap();
        let mut t = s.txn();
        for i in (0..40u32).rev() {
            let from = field(i.saturating_sub(12));
            let got = t
                .sub_get_run(0, b"l", v, &field(i), false, Some(&from))
                .unwrap();
            assert_eq!(got, Some(value(i)), "field {i}");
        }
        drop(t);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flushdb_swapdb_and_expiry() {
        let (s, dir) = open("flush");
        let mut t = s.txn();
        t.put(0, b"k0", Meta::string(b"v".to_vec(), 0)).unwrap();
        t.put(1, b"k1", Meta::string(b"v".to_vec(), 0)).unwrap();
        t.put(1, b"gone", Meta::string(b"v".to_vec(), now_ms() + 1))
            .unwrap();
        t.commit().unwrap();
        let mut t = s.txn();
        t.swap_db(0, 1).unwrap();
        t.commit().unwrap();
        assert!(s.get(0, b"k1").unwrap().is_some());
        assert!(s.get(1, b"k0").unwrap().is_some());
        assert_eq!(s.counts(0).keys, 2);
        let mut t = s.txn();
        t.flush_db(1).unwrap();
        t.commit().unwrap();
        assert!(s.get(1, b"k0").unwrap().is_none());
        assert_eq!(s.counts(1).keys, 0);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(s.get(0, b"gone").unwrap().is_none());
        assert_eq!(s.expire_cycle(100).unwrap(), 1);
        assert_eq!(s.counts(0).keys, 1);
        assert_eq!(s.counts(0).expires, 0);
        drop(s);
        let s = Store::open(&dir, strata_lsm::Options::default(), 16).unwrap();
        assert!(s.get(0, b"k1").unwrap().is_some());
        assert!(s.get(1, b"k0").unwrap().is_none());
        assert_eq!(s.counts(0).keys, 1);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
