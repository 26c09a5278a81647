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
}

/// Merges children into one ordered stream (ties: the earlier child first, so put
/// newer sources first).
pub(crate) struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    /// The best valid child after `current` at the last `pick` (None: no other valid
    /// child). Only `current` moves between picks, so while its key stays before the
    /// runner-up's it stays current: a run of keys from one child costs one comparison
    /// per step instead of one per child.
    runner_up: Option<usize>,
    forward: bool,
}

impl MergingIterator {
    pub(crate) fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator {
            children,
            current: None,
            runner_up: None,
            forward: true,
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

    fn pick(&mut self) {
        let (mut best, mut second): (Option<usize>, Option<usize>) = (None, None);
        for i in 0..self.children.len() {
            if !self.children[i].valid() {
                continue;
            }
            match best {
                None => best = Some(i),
                Some(b) if self.before(i, b) => {
                    second = best;
                    best = Some(i);
                }
                Some(_) => {
                    if second.is_none_or(|s| self.before(i, s)) {
                        second = Some(i);
                    }
                }
            }
        }
        self.current = best;
        self.runner_up = second;
    }

    /// After only `current` moved: keep it if it still comes first, else pick again.
    fn repick(&mut self) {
        if let Some(c) = self.current {
            if self.children[c].valid() && self.runner_up.is_none_or(|r| self.before(c, r)) {
                return;
            }
        }
        self.pick();
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
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
        if let Some(i) = self.current {
            self.children[i].next();
            self.repick();
        }
    }
    fn prev(&mut self) {
        if let Some(i) = self.current {
            self.children[i].prev();
            self.repick();
        }
    }
    fn key(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].key())
    }
    fn value(&self) -> &[u8] {
        self.current.map_or(&[], |i| self.children[i].value())
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
            err: None,
        }
    }

    fn load(&mut self) {
        self.data = None;
        if !self.index.valid() {
            return;
        }
        match (self.open)(self.index.value()) {
            Ok(d) => self.data = Some(d),
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
        }
        self.skip_forward();
    }
    fn seek_to_last(&mut self) {
        self.index.seek_to_last();
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek_to_last();
        }
        self.skip_backward();
    }
    fn seek(&mut self, target: &[u8]) {
        self.index.seek(target);
        self.load();
        if let Some(d) = self.data.as_mut() {
            d.seek(target);
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
