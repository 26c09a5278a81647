//! The block cache: decoded-from-disk, checksum-verified SST blocks, bounded by bytes.
//!
//! Thread-safety: shared by all readers; 16 shards, each behind its own mutex, pick by
//! the hash of `(table number, block offset)`. Each shard evicts with CLOCK (second
//! chance): a hit sets the entry's reference bit; the hand clears bits until it finds an
//! unreferenced entry to evict. Invariant: a shard's `bytes <= capacity / 16` after every
//! insert (a single block larger than that is not cached).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

type Key = (u64, u64);

struct Slot {
    key: Key,
    block: Arc<[u8]>,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
}

impl Shard {
    fn evict_one(&mut self) -> bool {
        if self.map.is_empty() {
            return false;
        }
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match &mut self.slots[i] {
                Some(s) if s.referenced => s.referenced = false,
                Some(_) => {
                    if let Some(s) = self.slots[i].take() {
                        self.map.remove(&s.key);
                        self.bytes -= s.block.len();
                        self.free.push(i);
                    }
                    return true;
                }
                None => {}
            }
        }
    }
}

/// A sharded CLOCK cache of SST blocks.
pub struct BlockCache {
    shards: Vec<Mutex<Shard>>,
    shard_capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache {
    /// A cache holding at most `capacity` bytes of blocks.
    pub fn new(capacity: usize) -> Self {
        BlockCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_capacity: capacity / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: Key) -> &Mutex<Shard> {
        let h =
            (key.0.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ key.1).wrapping_mul(0xff51_afd7_ed55_8ccd);
        &self.shards[(h >> 60) as usize % SHARDS]
    }

    pub(crate) fn get(&self, table: u64, offset: u64) -> Option<Arc<[u8]>> {
        let key = (table, offset);
        let found = self.shard(key).lock().ok().and_then(|mut s| {
            let i = *s.map.get(&key)?;
            let slot = s.slots[i].as_mut()?;
            slot.referenced = true;
            Some(slot.block.clone())
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub(crate) fn insert(&self, table: u64, offset: u64, block: Arc<[u8]>) {
        if block.len() > self.shard_capacity {
            return;
        }
        let key = (table, offset);
        let Ok(mut s) = self.shard(key).lock() else {
            return;
        };
        if s.map.contains_key(&key) {
            return;
        }
        while s.bytes + block.len() > self.shard_capacity && s.evict_one() {}
        s.bytes += block.len();
        let slot = Some(Slot {
            key,
            block,
            referenced: false,
        });
        let i = match s.free.pop() {
            Some(i) => {
                s.slots[i] = slot;
                i
            }
            None => {
                s.slots.push(slot);
                s.slots.len() - 1
            }
        };
        s.map.insert(key, i);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.bytes).unwrap_or(0))
            .sum()
    }

    /// (hits, misses) since creation.
    pub fn hit_miss(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_hits() {
        let c = BlockCache::new(16 * 4096);
        for i in 0..1000u64 {
            c.insert(1, i * 4096, vec![0u8; 4000].into());
            assert!(c.bytes() <= 16 * 4096);
        }
        c.insert(2, 0, vec![1u8; 100].into());
        assert_eq!(c.get(2, 0).map(|b| b.len()), Some(100));
        assert!(c.get(3, 0).is_none());
        assert_eq!(c.hit_miss(), (1, 1));
    }
}
