//! Range tombstones: `delete_range(start, end)` in O(1).
//!
//! A range tombstone `[start, end) @ seq` hides every version of every key in the range
//! whose sequence number is below `seq`. Tombstones live in the memtable that received
//! them and, once that memtable is flushed, in the manifest (they are few: one per
//! FLUSHDB or dropped slot). Reads check them; compaction drops the entries they hide
//! once no snapshot can see those entries, and a manual `compact_range` covering a
//! tombstone's whole range retires the tombstone itself.

/// One range deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeTombstone {
    /// First key deleted.
    pub start: Vec<u8>,
    /// First key not deleted.
    pub end: Vec<u8>,
    /// Sequence number of the deletion.
    pub seq: u64,
}

impl RangeTombstone {
    /// Does this tombstone hide `key@entry_seq` for a reader at `read_seq`?
    pub(crate) fn hides(&self, key: &[u8], entry_seq: u64, read_seq: u64) -> bool {
        self.seq > entry_seq
            && self.seq <= read_seq
            && key >= self.start.as_slice()
            && key < self.end.as_slice()
    }
}

/// Is `key@entry_seq` hidden by any of `tombs` for a reader at `read_seq`?
pub(crate) fn hidden(tombs: &[RangeTombstone], key: &[u8], entry_seq: u64, read_seq: u64) -> bool {
    tombs.iter().any(|t| t.hides(key, entry_seq, read_seq))
}
