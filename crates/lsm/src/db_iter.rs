//! The user iterator: merges every source, hides versions newer than the read sequence,
//! deleted keys and older versions, and stays inside `[lower, upper)`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ikey::{self, Kind};
use crate::iter::{InternalIterator, MergingIterator};
use crate::options::IterOptions;
use crate::range_del::{self, RangeTombstone};
use crate::version::Version;

/// Iterator over a database or snapshot, in one direction.
///
/// Use it as a cursor (`valid`, `key`, `value`, `advance`: no allocation per step) or as
/// a std [`Iterator`] of owned pairs. It holds the files it reads, so compaction never
/// pulls them away.
pub struct DbIterator {
    inner: MergingIterator,
    seq: u64,
    tombs: Vec<RangeTombstone>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    reverse: bool,
    key: Vec<u8>,
    value: Vec<u8>,
    valid: bool,
    err: Option<Error>,
    started: bool,
    /// A run of the merged iterator (`InternalIterator::run_bound`) that ends below
    /// `upper` (0: none): its entries need no bound check.
    below_upper: u64,
    _version: Arc<Version>,
}

impl DbIterator {
    pub(crate) fn new(
        inner: MergingIterator,
        seq: u64,
        tombs: Vec<RangeTombstone>,
        opts: IterOptions,
        version: Arc<Version>,
    ) -> Self {
        let mut it = DbIterator {
            inner: inner.with_bounds(opts.lower.clone(), opts.upper.clone()),
            seq,
            tombs,
            lower: opts.lower,
            upper: opts.upper,
            reverse: opts.reverse,
            key: Vec::new(),
            value: Vec::new(),
            valid: false,
            err: None,
            started: false,
            below_upper: 0,
            _version: version,
        };
        it.start();
        it
    }

    fn start(&mut self) {
        self.started = true;
        if self.reverse {
            match &self.upper {
                Some(u) => self.inner.seek_for_prev(&ikey::first_of(u)),
                None => self.inner.seek_to_last(),
            }
            self.find_prev();
        } else {
            match &self.lower {
                Some(l) => self.inner.seek(&ikey::first_of(l)),
                None => self.inner.seek_to_first(),
            }
            self.find_next(false);
        }
    }

    /// Is the cursor on an entry?
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// Current key (empty when not valid).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Current value (empty when not valid).
    pub fn value(&self) -> &[u8] {
        // Forward, the merged iterator rests on the entry itself: no copy is made.
        match (self.valid, self.reverse) {
            (false, _) => &[],
            (true, false) => self.inner.value(),
            (true, true) => &self.value,
        }
    }

    /// The error that ended iteration, if one did.
    pub fn status(&self) -> Result<()> {
        match &self.err {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    /// Reposition: forward, at the first key at or after `target` (and not before the
    /// lower bound); reverse, at the last key before `target` (and before the upper bound).
    /// Cheaper than a new iterator: the sources and their files are kept.
    pub fn seek(&mut self, target: &[u8]) {
        if self.err.is_some() {
            return;
        }
        if self.reverse {
            if self.upper.as_deref().is_none_or(|u| target < u) {
                self.upper = Some(target.to_vec());
            }
            self.start();
        } else {
            let t = match &self.lower {
                Some(l) if target < l.as_slice() => l.clone(),
                _ => target.to_vec(),
            };
            self.inner.seek(&ikey::first_of(&t));
            self.find_next(false);
        }
    }

    /// Move to the next key in the iterator's direction.
    pub fn advance(&mut self) {
        if !self.valid {
            return;
        }
        if self.reverse {
            self.find_prev();
        } else {
            self.inner.next();
            self.find_next(true);
        }
    }

    fn stop(&mut self) {
        self.valid = false;
        if self.err.is_none() {
            if let Err(e) = self.inner.status() {
                self.err = Some(e);
            }
        }
    }

    /// Forward: settle on the newest visible version of the next live key. With `skip`,
    /// versions of the current `self.key` are passed over first.
    fn find_next(&mut self, mut skip: bool) {
        loop {
            if !self.inner.valid() {
                return self.stop();
            }
            let p = match ikey::parse(self.inner.key()) {
                Ok(p) => p,
                Err(e) => {
                    self.err = Some(e);
                    return self.stop();
                }
            };
            if let Some(u) = self.upper.as_deref() {
                // Inside a run already known to end below the bound, no comparison.
                let run = self.inner.run_id();
                if run == 0 || run != self.below_upper {
                    if p.user_key >= u {
                        return self.stop();
                    }
                    if run != 0 {
                        if let Some((bound, r)) = self.inner.run_bound() {
                            if ikey::user_key(bound) < u {
                                self.below_upper = r;
                            }
                        }
                    }
                }
            }
            if p.seq > self.seq || (skip && same_key(p.user_key, &self.key)) {
                self.inner.next();
                continue;
            }
            self.key.clear();
            self.key.extend_from_slice(p.user_key);
            let live = p.kind == Kind::Value
                && !range_del::hidden(&self.tombs, p.user_key, p.seq, self.seq);
            if live {
                self.valid = true;
                return;
            }
            skip = true;
            self.inner.next();
        }
    }

    /// Reverse: walk back over the versions of the previous key (oldest first), keeping
    /// the newest visible one, and stop at the key before it.
    fn find_prev(&mut self) {
        let mut have = false;
        while self.inner.valid() {
            let p = match ikey::parse(self.inner.key()) {
                Ok(p) => p,
                Err(e) => {
                    self.err = Some(e);
                    return self.stop();
                }
            };
            if self.lower.as_deref().is_some_and(|l| p.user_key < l) {
                break;
            }
            if p.seq <= self.seq {
                if have && p.user_key < self.key.as_slice() {
                    break;
                }
                let live = p.kind == Kind::Value
                    && !range_del::hidden(&self.tombs, p.user_key, p.seq, self.seq);
                self.key.clear();
                self.key.extend_from_slice(p.user_key);
                if live {
                    self.value.clear();
                    self.value.extend_from_slice(self.inner.value());
                }
                have = live;
            }
            self.inner.prev();
        }
        if have {
            self.valid = true;
        } else {
            self.stop();
        }
    }
}

impl Iterator for DbIterator {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.start();
        }
        if !self.valid {
            return self.err.take().map(Err);
        }
        let item = (self.key.clone(), self.value().to_vec());
        self.advance();
        Some(Ok(item))
    }
}

/// `a == b`, testing the last 8 bytes first: consecutive keys of a scan usually share
/// a long prefix (a collection's records) and differ at the end, so most calls end
/// after one 8-byte comparison instead of a `memcmp` call.
#[inline]
fn same_key(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if let (Some(x), Some(y)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) {
        if x != y {
            return false;
        }
    }
    a == b
}
