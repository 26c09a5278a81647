//! Internal iterators (over internal keys) and the merging iterator.
//!
//! Every iterator here runs in one direction for its whole life: a forward one is
//! positioned with `seek`/`seek_to_first` and moved with `next`; a reverse one with
//! `seek_for_prev`/`seek_to_last` and `prev`. Fixing the direction keeps the merging
//! logic simple; user iterators pick their direction when they are created.

use std::cmp::Ordering;

use crate::error::Result;
use crate::ikey;

/// An iterator over internal keys.
pub(crate) trait InternalIterator: Send {
    fn valid(&self) -> bool;
    fn seek_to_first(&mut self);
    fn seek_to_last(&mut self);
    /// Position at the first entry `>= target`.
    fn seek(&mut self, target: &[u8]);
    /// Position at the last entry `<= target`.
    fn seek_for_prev(&mut self, target: &[u8]);
    fn next(&mut self);
    fn prev(&mut self);
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
    /// The first error met, if any; an iterator that met one becomes invalid.
    fn status(&self) -> Result<()>;
    /// For a forward iterator: a key that no entry from the current one to the end of
    /// the current *run* is above, and the run's number (unique in the process). A
    /// table iterator's run is its current data block, whose index key is the block's
    /// last key. While `run_bound` names the same run the bound holds. None: no bound
    /// known (the default).
    fn run_bound(&self) -> Option<(&[u8], u64)> {
        None
    }
    /// The current run's number, as `run_bound` gives it, without the bound: cheap
    /// enough for every step. 0: no run.
    fn run_id(&self) -> u64 {
        0
    }
}

/// Numbers runs ([`InternalIterator::run_bound`]) uniquely across iterators.
static NEXT_RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Merges children into one ordered stream (ties: the earlier child first, so put
/// newer sources first).
///
/// The valid children sit in a binary heap ordered by their current keys (a min-heap
/// forward, a max-heap in reverse): a step moves the top child and sifts it down, about
/// log k comparisons for k children instead of the k of a scan (a compaction merges up
/// to a dozen inputs whose keys interleave). The better of the top's two heap children
/// (`runner_up`) is remembered, so a run of keys from one child (a scan where one
/// source holds most keys) costs one comparison per step.
pub(crate) struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    /// Indices of the valid children, a heap under `before`.
    heap: Vec<usize>,
    /// The heap position (1 or 2) of the better of the top's children, None with
    /// fewer than two valid children; stale once the top sifts down.
    runner_up: Option<usize>,
    /// (child, run): the top child's current run ends before the runner-up's key, so
    /// the child stays on top, without comparisons, while it steps through that run
    /// (a forward merge of sources holding disjoint stretches of keys, as a large
    /// collection's records in a few L0 files are, costs no comparison per step).
    free_run: Option<(usize, u64)>,
    forward: bool,
    /// User-key bounds of the reader (`[lower, upper)`): a child positioned past the
    /// bound of its direction can give nothing more and is left out of the heap. A
    /// scan of one collection's records meets files that hold the collection's
    /// metadata record and records outside the scanned range; they drop out at the
    /// seek instead of costing a comparison on every step.
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
}

impl MergingIterator {
    pub(crate) fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator {
            heap: Vec::with_capacity(children.len()),
            children,
            runner_up: None,
            free_run: None,
            forward: true,
            lower: None,
            upper: None,
        }
    }

    /// Leave out of the heap, at each seek, the children positioned at or past `upper`
    /// (forward) or before `lower` (reverse). For a reader that stops at its bounds.
    pub(crate) fn with_bounds(mut self, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> Self {
        self.lower = lower;
        self.upper = upper;
        self
    }

    /// Is valid child `i` past the bound of the current direction?
    fn out_of_bounds(&self, i: usize) -> bool {
        let user = ikey::user_key(self.children[i].key());
        if self.forward {
            self.upper.as_deref().is_some_and(|u| user >= u)
        } else {
            self.lower.as_deref().is_some_and(|l| user < l)
        }
    }

    /// Does child `a` come before child `b` in the iteration order? (Ties: the
    /// earlier child.)
    fn before(&self, a: usize, b: usize) -> bool {
        let ord = ikey::compare(self.children[a].key(), self.children[b].key());
        match ord {
            Ordering::Equal => a < b,
            Ordering::Less => self.forward,
            Ordering::Greater => !self.forward,
        }
    }

    /// Heap position `i` holds a child that comes before the one at `j`.
    fn heap_before(&self, i: usize, j: usize) -> bool {
        self.before(self.heap[i], self.heap[j])
    }

    /// The better of position `i`'s heap children, if it has any.
    fn better_child(&self, i: usize) -> Option<usize> {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        if l >= self.heap.len() {
            None
        } else if r < self.heap.len() && self.heap_before(r, l) {
            Some(r)
        } else {
            Some(l)
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        while let Some(c) = self.better_child(i) {
            if !self.heap_before(c, i) {
                break;
            }
            self.heap.swap(i, c);
            i = c;
        }
    }

    /// Rebuild the heap from every valid child inside the bounds.
    fn pick(&mut self) {
        self.heap.clear();
        for i in 0..self.children.len() {
            if self.children[i].valid() && !self.out_of_bounds(i) {
                self.heap.push(i);
            }
        }
        for i in (0..self.heap.len() / 2).rev() {
            self.sift_down(i);
        }
        self.runner_up = self.better_child(0);
        self.free_run = None;
    }

    /// After only the top child moved: drop it if it ended; keep it on top while it
    /// still comes before the runner-up, else sift it down.
    fn repick(&mut self) {
        self.free_run = None;
        let Some(&top) = self.heap.first() else {
            return;
        };
        if !self.children[top].valid() {
            let last = self.heap.len() - 1;
            self.heap.swap(0, last);
            self.heap.pop();
            self.sift_down(0);
            self.runner_up = self.better_child(0);
            return;
        }
        match self.runner_up {
            Some(r) if self.heap_before(r, 0) => {
                self.sift_down(0);
                self.runner_up = self.better_child(0);
            }
            // The top stays: if its whole run comes before the runner-up, the steps
            // through the rest of the run need no comparison. (Tested only when the
            // top stays, so merges whose sources interleave key by key pay nothing.)
            Some(r) if self.forward => {
                let runner = self.children[self.heap[r]].key();
                if let Some((bound, run)) = self.children[top].run_bound() {
                    if ikey::compare(bound, runner) == Ordering::Less {
                        self.free_run = Some((top, run));
                    }
                }
            }
            _ => {}
        }
    }

    fn current(&self) -> Option<usize> {
        self.heap.first().copied()
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        !self.heap.is_empty()
    }
    fn seek_to_first(&mut self) {
        self.forward = true;
        self.children.iter_mut().for_each(|c| c.seek_to_first());
        self.pick();
    }
    fn seek_to_last(&mut self) {
        self.forward = false;
        self.children.iter_mut().for_each(|c| c.seek_to_last());
        self.pick();
    }
    fn seek(&mut self, target: &[u8]) {
        self.forward = true;
        self.children.iter_mut().for_each(|c| c.seek(target));
        self.pick();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        self.forward = false;
        self.children
            .iter_mut()
            .for_each(|c| c.seek_for_prev(target));
        self.pick();
    }
    fn next(&mut self) {
        if let Some(i) = self.current() {
            self.children[i].next();
            if let Some((child, run)) = self.free_run {
                if child == i && self.children[i].run_id() == run {
                    return;
                }
            }
            self.repick();
        }
    }
    fn prev(&mut self) {
        if let Some(i) = self.current() {
            self.children[i].prev();
            self.repick();
        }
    }
    fn key(&self) -> &[u8] {
        self.current().map_or(&[], |i| self.children[i].key())
    }
    fn value(&self) -> &[u8] {
        self.current().map_or(&[], |i| self.children[i].value())
    }
    fn run_bound(&self) -> Option<(&[u8], u64)> {
        // Only while the top runs free: the merged entries until its run ends are its.
        let (child, run) = self.free_run?;
        self.children[child].run_bound().filter(|&(_, r)| r == run)
    }
    fn run_id(&self) -> u64 {
        // `next` keeps `free_run` current: it ends when the top's run does.
        self.free_run.map_or(0, |(_, r)| r)
    }
    fn status(&self) -> Result<()> {
        for c in &self.children {
            c.status()?;
        }
        Ok(())
    }
}

/// Iterates an index whose values open second-level iterators: the table iterator
/// (index block over data blocks) and the level iterator (file list over tables).
pub(crate) struct TwoLevelIterator<F>
where
    F: FnMut(&[u8]) -> Result<Box<dyn InternalIterator>> + Send,
{
    index: Box<dyn InternalIterator>,
    open: F,
    data: Option<Box<dyn InternalIterator>>,
    /// The number of the run (see `run_bound`) `data` is.
    run: u64,
    /// `data` has runs of its own (a level's table iterator has blocks); noted each
    /// time `data` is positioned.
    data_runs: bool,
    err: Option<crate::Error>,
}

impl<F> TwoLevelIterator<F>
where
    F: FnMut(&[u8]) -> Result<Box<dyn InternalIterator>> + Send,
{
    pub(crate) fn new(index: Box<dyn InternalIterator>, open: F) -> Self {
        TwoLevelIterator {
            index,
            open,
            data: None,
            run: 0,
            data_runs: false,
            err: None,
        }
    }

    fn load(&mut self) {
        self.data = None;
        if !self.index.valid() {
            return;
        }
        match (self.open)(self.index.value()) {
            Ok(d) => {
                self.data = Some(d);
                self.data_runs = false;
                self.run = NEXT_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => self.err = Some(e),
        }
    }

    fn data_valid(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.valid())
    }

    fn skip_forward(&mut self) {
        while !self.data_valid() && self.err.is_none() {
            if let Some(d) = &self.data {
                if let Err(e) = d.status() {
                    self.err = Some(e);
                    return;
                }
            }
            if !self.index.valid() {
                self.data = None;
                return;
            }
            self.index.next();
            self.load();
            if let Some(d) = self.data.as_mut() {
                d.seek_to_first();
                self.data_runs = d.run_id() != 0;
            }
        }
    }

    fn skip_backward(&mut self) {
        while !self.data_valid() && self.err.is_none() {
            if let Some(d) = &self.data {
                if let Err(e) = d.status() {
                    self.err = Some(e);
                    return;
                }
            }
            if !self.index.valid() {
                self.data = None;
                return;
            }
            self.index.prev();
            self.load();
            if let Some(d) = self.data.as_mut() {
                d.seek_to_last();
                self.data_runs = d.run_id() != 0;
            }
        }
    }
}

impl<F> InternalIterator for TwoLevelIterator<F>
where
    F: FnMut(&[u8]) -> Result<Box<dyn InternalIterator>> + Send,
{
    fn valid(&self) -> bool {
        self.err.is_none() && self.data_valid()
    }
    fn seek_to_first(&mut self) {
        self.index.seek_to_first();
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek_to_first();
            self.data_runs = d.run_id() != 0;
        }
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek_to_last();
            self.data_runs = d.run_id() != 0;
        }
        self.skip_backward();
    }
    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek(target);
            self.data_runs = d.run_id() != 0;
        }
        self.skip_forward();
    }
    fn seek_for_prev(&mut self, target: &[u8]) {
        // The first index entry >= target names the only block that can hold the last
        // entry <= target besides the ones before it.
        self.index.seek(target);
        if !self.index.valid() {
            self.index.seek_to_last();
        }
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek_for_prev(target);
            self.data_runs = d.run_id() != 0;
        }
        self.skip_backward();
    }
    fn next(&mut self) {
        if let Some(d) = self.data.as_mut() {
            d.next();
        }
        self.skip_forward();
    }
    fn prev(&mut self) {
        if let Some(d) = self.data.as_mut() {
            d.prev();
        }
        self.skip_backward();
    }
    fn key(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.key())
    }
    fn value(&self) -> &[u8] {
        self.data.as_ref().map_or(&[], |d| d.value())
    }
    fn run_bound(&self) -> Option<(&[u8], u64)> {
        // The second level's own runs when it has them (a level's file has blocks),
        // else the index entry: the largest key of the block or file being read. The
        // same choice as `run_id`'s, so the two always name the same run.
        let d = self
            .data
            .as_ref()
            .filter(|d| d.valid() && self.err.is_none())?;
        if self.data_runs {
            d.run_bound()
        } else {
            self.index.valid().then(|| (self.index.key(), self.run))
        }
    }
    fn run_id(&self) -> u64 {
        match &self.data {
            Some(d) if self.data_runs => d.run_id(),
            Some(_) => self.run,
            None => 0,
        }
    }
    fn status(&self) -> Result<()> {
        if let Some(e) = &self.err {
            return Err(e.duplicate());
        }
        self.index.status()?;
        if let Some(d) = &self.data {
            d.status()?;
        }
        Ok(())
    }
}

/// An iterator that is empty and reports an error (a table that failed to open).
pub(crate) struct ErrorIter(pub Option<crate::Error>);

impl InternalIterator for ErrorIter {
    fn valid(&self) -> bool {
        false
    }
    fn seek_to_first(&mut self) {}
    fn seek_to_last(&mut self) {}
    fn seek(&mut self, _: &[u8]) {}
    fn seek_for_prev(&mut self, _: &[u8]) {}
    fn next(&mut self) {}
    fn prev(&mut self) {}
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
    fn status(&self) -> Result<()> {
        match &self.0 {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ikey::{encode, Kind};

    /// A sorted list of internal keys as an iterator.
    struct ListIter {
        keys: Vec<Vec<u8>>,
        pos: Option<usize>,
    }

    impl InternalIterator for ListIter {
        fn valid(&self) -> bool {
            self.pos.is_some()
        }
        fn seek_to_first(&mut self) {
            self.pos = (!self.keys.is_empty()).then_some(0);
        }
        fn seek_to_last(&mut self) {
            self.pos = self.keys.len().checked_sub(1);
        }
        fn seek(&mut self, target: &[u8]) {
            let i = self
                .keys
                .partition_point(|k| ikey::compare(k, target).is_lt());
            self.pos = (i < self.keys.len()).then_some(i);
        }
        fn seek_for_prev(&mut self, target: &[u8]) {
            let i = self
                .keys
                .partition_point(|k| ikey::compare(k, target).is_le());
            self.pos = i.checked_sub(1);
        }
        fn next(&mut self) {
            self.pos = self.pos.map(|p| p + 1).filter(|&p| p < self.keys.len());
        }
        fn prev(&mut self) {
            self.pos = self.pos.and_then(|p| p.checked_sub(1));
        }
        fn key(&self) -> &[u8] {
            self.pos.map_or(&[], |p| &self.keys[p])
        }
        fn value(&self) -> &[u8] {
            &[]
        }
        fn status(&self) -> Result<()> {
            Ok(())
        }
    }

    /// A merge of one [`ListIter`] per list of sorted internal keys.
    fn merge_of(lists: &[Vec<Vec<u8>>]) -> MergingIterator {
        MergingIterator::new(
            lists
                .iter()
                .map(|keys| {
                    Box::new(ListIter {
                        keys: keys.clone(),
                        pos: None,
                    }) as Box<dyn InternalIterator>
                })
                .collect(),
        )
    }

    /// Children of every size (empty ones, one holding most keys, the same internal
    /// key in two children): forward, reverse and from seeks, the merge yields the
    /// sorted union, a tie first from the earlier child.
    #[test]
    fn merging_yields_the_sorted_union_in_both_directions() {
        check_merge(|r| format!("k{:05}", r % 3000).into_bytes());
    }

    /// The same with user keys of 0 to 12 bytes over a small alphabet with zero bytes
    /// (keys that are prefixes of others, a key and itself followed by zeros), half of
    /// them behind one 10-byte prefix: a comparison that shortcuts on a key's first
    /// bytes (tried for the merge, docs/decisions.md) must keep this order.
    #[test]
    fn merging_by_key_prefixes_keeps_the_order() {
        check_merge(|r| {
            let len = (r % 13) as usize;
            let mut k: Vec<u8> = (0..len)
                .map(|i| [0u8, b'a', b'b'][((r >> (4 + 2 * i)) % 3) as usize])
                .collect();
            if (r >> 40).is_multiple_of(2) {
                let mut shared = b"collection".to_vec();
                shared.append(&mut k);
                k = shared;
            }
            k
        });
    }

    /// A bounded merge leaves out of its heap the children that a seek put past the
    /// bound (a file holding a collection's metadata and its records beyond the
    /// scanned range), keeps those inside, and still yields every entry in bounds.
    #[test]
    fn bounds_leave_out_children_past_them() {
        let k = |s: &str, seq| encode(s.as_bytes(), seq, Kind::Value);
        let lists = [
            // Inside the bounds.
            vec![k("c1", 9), k("c3", 9)],
            // Metadata before the range, records after it.
            vec![k("a", 5), k("e1", 5), k("e2", 5)],
            // One record inside, the rest after.
            vec![k("a", 4), k("c2", 4), k("f", 4)],
            // Wholly before the range.
            vec![k("a", 3), k("b", 3)],
            // Exactly at the upper bound.
            vec![k("d", 2)],
            // Exactly at the lower bound.
            vec![k("c", 1)],
        ];
        let merged = || merge_of(&lists).with_bounds(Some(b"c".to_vec()), Some(b"d".to_vec()));
        let mut m = merged();
        m.seek(&ikey::first_of(b"c"));
        let mut heap = m.heap.clone();
        heap.sort();
        assert_eq!(heap, vec![0, 2, 5], "forward: children in bounds");
        let mut got = Vec::new();
        while m.valid() && ikey::user_key(m.key()) < b"d".as_slice() {
            got.push(ikey::user_key(m.key()).to_vec());
            m.next();
        }
        assert_eq!(got, [&b"c"[..], b"c1", b"c2", b"c3"]);

        let mut m = merged();
        m.seek_for_prev(&ikey::first_of(b"d"));
        let mut heap = m.heap.clone();
        heap.sort();
        // Reverse: the second child's "a" and the fourth's "b" are before the lower
        // bound; the fifth has nothing at or before the target.
        assert_eq!(heap, vec![0, 2, 5], "reverse: children in bounds");
        let mut got = Vec::new();
        while m.valid() && ikey::user_key(m.key()) >= b"c".as_slice() {
            got.push(ikey::user_key(m.key()).to_vec());
            m.prev();
        }
        assert_eq!(got, [&b"c3"[..], b"c2", b"c1", b"c"]);
    }

    /// Merge 13 children (empty ones, one holding most keys, the same internal key in
    /// two children) of keys made by `user_key` from random numbers, and check the
    /// merge forward, in reverse and from seeks against the sorted union.
    fn check_merge(user_key: impl Fn(u64) -> Vec<u8>) {
        let mut rng = 99u64;
        let mut children: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 13];
        let mut all = Vec::new();
        for n in 0..4000u64 {
            let rng = crate::testutil::xorshift(&mut rng);
            let child = if rng.is_multiple_of(3) {
                0
            } else {
                (rng % 12) as usize + 1
            };
            let k = encode(&user_key(rng), n, Kind::Value);
            children[child].push(k.clone());
            all.push((k.clone(), child));
            if n.is_multiple_of(97) && child != 12 {
                // The same entry in a later child too.
                children[12].push(k.clone());
                all.push((k, 12));
            }
        }
        children[5].clear();
        all.retain(|&(_, c)| c != 5);
        for c in &mut children {
            c.sort_by(|a, b| ikey::compare(a, b));
        }
        all.sort_by(|a, b| ikey::compare(&a.0, &b.0).then(a.1.cmp(&b.1)));
        let want: Vec<Vec<u8>> = all.into_iter().map(|(k, _)| k).collect();
        let merged = || merge_of(&children);
        for forward in [true, false] {
            let mut m = merged();
            let mut got = Vec::new();
            if forward {
                m.seek_to_first();
            } else {
                m.seek_to_last();
            }
            while m.valid() {
                got.push(m.key().to_vec());
                if forward {
                    m.next();
                } else {
                    m.prev();
                }
            }
            if !forward {
                got.reverse();
            }
            assert_eq!(got, want, "forward: {forward}");
        }
        for (i, target) in want.iter().enumerate().step_by(131) {
            let mut m = merged();
            m.seek(target);
            // The first of equal keys is at the lowest position holding it.
            let first = want.iter().position(|k| k == target).unwrap_or(i);
            assert_eq!(m.key(), &want[first][..]);
            let mut m = merged();
            m.seek_for_prev(target);
            let last = want.iter().rposition(|k| k == target).unwrap_or(i);
            assert_eq!(m.key(), &want[last][..]);
        }
    }
}
