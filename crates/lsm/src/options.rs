//! Options for opening a database, writing and iterating.

use std::sync::Arc;

/// When the WAL is forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync before every write is acknowledged (group commit shares one fsync among
    /// concurrent writers). A kill -9 or power loss loses nothing acknowledged.
    Always,
    /// fsync once a second on a background thread, like Redis's `appendfsync everysec`.
    /// A crash of any kind (kill -9, OS crash, power loss) may lose the acknowledged
    /// writes of about the last second; see [`Options::wal_buffer_bytes`] for what a
    /// process crash alone may lose.
    EverySec,
    /// Never fsync the WAL explicitly; the OS writes it back when it likes. A process
    /// crash loses at most the WAL buffer's last second; an OS crash may lose everything
    /// written to the current WAL (a WAL is fsynced when its memtable is frozen).
    No,
}

/// What a compaction filter decides for one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Keep the entry.
    Keep,
    /// Remove the entry (it reads as deleted from then on).
    Remove,
}

/// Decides, during compaction, whether entries are kept.
///
/// Called for the newest version of a key in a compaction, when it is a value that no
/// live snapshot can see (every snapshot is older than it). A snapshot taken while the
/// compaction runs may see a removed value disappear, so use the filter for data that is
/// logically dead already (expired keys, stale collection versions). Must be fast and must not call back into the same
/// database's write path. Thread-safety: called from the compaction thread.
pub trait CompactionFilter: Send + Sync {
    /// Keep or remove `key` (with `value`), which is being compacted into `level`.
    fn filter(&self, level: usize, key: &[u8], value: &[u8]) -> Decision;
}

/// How to open a database.
#[derive(Clone)]
pub struct Options {
    /// Create the directory and an empty database when none exists (default true).
    pub create_if_missing: bool,
    /// Memory for memtables in bytes, active and immutable together (default 16 MiB,
    /// chosen by measurement: docs/decisions.md):
    /// the active memtable is frozen at half of it, and at most one frozen memtable waits
    /// for its flush.
    pub memtable_budget: usize,
    /// Bytes of SST blocks kept in the block cache (default 64 MiB). With
    /// `mmap_reads` the cache serves only reads made without a mapping.
    pub block_cache_bytes: usize,
    /// Read SST blocks for gets and scans in place from a read-only memory mapping
    /// (default true): no system call, no copy, no cache lookup. Compaction and
    /// `no_fill_cache` scans still use `pread`. The cost: a media error while reading a
    /// mapped page kills the process (SIGBUS) instead of returning an error, and mapped
    /// pages count in RSS (clean page-cache pages the kernel reclaims under pressure).
    /// With `false`, every read goes through `pread` and the block cache.
    pub mmap_reads: bool,
    /// WAL sync policy (default [`SyncPolicy::EverySec`]).
    pub sync: SyncPolicy,
    /// Under [`SyncPolicy::EverySec`] and [`SyncPolicy::No`], WAL records collect in a
    /// user-space buffer of this many bytes (default 64 KiB) and reach the OS when it
    /// fills, once a second (the WAL thread), at every fsync and at close. A process
    /// crash (kill -9) can then lose up to about one second of acknowledged writes;
    /// 0 writes every record to the OS before it is acknowledged, as Redis does, at the
    /// cost of one system call per write group. Ignored under [`SyncPolicy::Always`].
    pub wal_buffer_bytes: usize,
    /// Target size of a data block before compression of restart points (default 4 KiB).
    pub block_size: usize,
    /// Bloom filter bits per key (default 10, about 1% false positives).
    pub bloom_bits_per_key: usize,
    /// Size at which compaction starts a new output file (default 32 MiB).
    pub target_file_size: u64,
    /// Size limit of L1 (default 128 MiB); each deeper level is `level_multiplier` times larger.
    pub level1_max_bytes: u64,
    /// Growth factor between levels (default 10).
    pub level_multiplier: u64,
    /// Number of L0 files that starts a compaction while writes go on (default 8:
    /// docs/decisions.md, "L0 compaction when writes pause").
    pub l0_compaction_trigger: usize,
    /// Number of L0 files that starts a compaction once no write has come for 100 ms
    /// (default 4; 0 = never): a burst of writes leaves no
    /// compaction debt for the next one. At most `l0_compaction_trigger` to take effect.
    pub l0_idle_trigger: usize,
    /// Number of L0 files at which each write is delayed by 1 ms (default 16).
    pub l0_slowdown_trigger: usize,
    /// Number of L0 files at which writes wait for compaction (default 24).
    pub l0_stop_trigger: usize,
    /// Optional compaction filter.
    pub compaction_filter: Option<Arc<dyn CompactionFilter>>,
    /// A manifest larger than this is rewritten as one snapshot edit (default 64 MiB).
    pub manifest_rewrite_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            memtable_budget: 16 << 20,
            block_cache_bytes: 64 << 20,
            mmap_reads: true,
            sync: SyncPolicy::EverySec,
            wal_buffer_bytes: 64 << 10,
            block_size: 4096,
            bloom_bits_per_key: 10,
            target_file_size: 32 << 20,
            level1_max_bytes: 128 << 20,
            level_multiplier: 10,
            l0_compaction_trigger: 8,
            l0_idle_trigger: 4,
            l0_slowdown_trigger: 16,
            l0_stop_trigger: 24,
            compaction_filter: None,
            manifest_rewrite_bytes: 64 << 20,
        }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("memtable_budget", &self.memtable_budget)
            .field("block_cache_bytes", &self.block_cache_bytes)
            .field("sync", &self.sync)
            .field("compaction_filter", &self.compaction_filter.is_some())
            .finish_non_exhaustive()
    }
}

/// Per-write options.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// fsync the WAL before acknowledging this write, whatever the sync policy.
    pub sync: bool,
}

/// Which keys an iterator visits and in which direction.
#[derive(Clone, Debug, Default)]
pub struct IterOptions {
    /// First key visited (inclusive); `None` = from the first key.
    pub lower: Option<Vec<u8>>,
    /// Iteration stops before this key (exclusive); `None` = to the last key.
    pub upper: Option<Vec<u8>>,
    /// Visit keys in descending order.
    pub reverse: bool,
    /// Do not keep the blocks read in the block cache (for scans that would evict it).
    pub no_fill_cache: bool,
}

/// Files and bytes of one level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Number of SSTs.
    pub files: usize,
    /// Total bytes of those SSTs.
    pub bytes: u64,
}

/// A point-in-time view of the engine's counters.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Per level, L0 first.
    pub levels: Vec<LevelStats>,
    /// Bytes in the active and frozen memtables.
    pub memtable_bytes: usize,
    /// Arena memory of dropped memtables kept for the next ones (at most half the
    /// memtable budget).
    pub memtable_pool_bytes: usize,
    /// Frozen memtables waiting for their flush.
    pub immutable_memtables: usize,
    /// Writes that waited for a flush or for L0 to shrink.
    pub write_stalls: u64,
    /// Writes delayed 1 ms because L0 reached the slowdown trigger.
    pub write_slowdowns: u64,
    /// Microseconds writers spent stalled or slowed down.
    pub stall_micros: u64,
    /// Block cache hits.
    pub block_cache_hits: u64,
    /// Block cache misses.
    pub block_cache_misses: u64,
    /// Bytes in the block cache.
    pub block_cache_bytes: usize,
    /// Bytes appended to WAL files since open.
    pub wal_bytes: u64,
    /// WAL fsyncs since open.
    pub wal_syncs: u64,
    /// Memtable flushes since open.
    pub flushes: u64,
    /// Compactions since open (trivial moves included).
    pub compactions: u64,
    /// Bytes read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes written by flushes and compactions.
    pub compaction_bytes_written: u64,
    /// SSTs that compactions dropped unread because one range tombstone hid all of
    /// them.
    pub compaction_files_dropped: u64,
    /// Bulk loads installed since open ([`crate::Db::bulk_load`]).
    pub bulk_loads: u64,
    /// Bytes of SSTs they added.
    pub bulk_load_bytes: u64,
    /// Last sequence number used.
    pub last_sequence: u64,
    /// Live range tombstones.
    pub range_tombstones: usize,
    /// The sticky background error, if any.
    pub background_error: Option<String>,
}
