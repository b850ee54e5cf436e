//! A one-slot, keep-newest hand-off between a producer thread and a consumer.
//!
//! Live video is worthless late: when the consumer is slower than the camera, the frame waiting
//! in the slot is replaced by the newer one and the replacement is counted, instead of a queue
//! growing behind the camera. The overflow policy is named [`OverflowPolicy::KeepNewest`] so that
//! metrics and docs can say which policy a queue has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// What a bounded queue does when it is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Replace the waiting item with the new one (live frames).
    KeepNewest,
    /// Make the producer wait; nothing is ever dropped (events).
    NeverDrop,
}

/// A single slot holding the newest item.
#[derive(Debug)]
pub struct Latest<T> {
    slot: Mutex<State<T>>,
    ready: Condvar,
    put: AtomicU64,
    overwritten: AtomicU64,
    taken: AtomicU64,
}

#[derive(Debug)]
struct State<T> {
    item: Option<T>,
    closed: bool,
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(State { item: None, closed: false }),
            ready: Condvar::new(),
            put: AtomicU64::new(0),
            overwritten: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }
}

impl<T> Latest<T> {
    pub const POLICY: OverflowPolicy = OverflowPolicy::KeepNewest;

    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `item`, replacing (and counting) one that nobody took yet.
    pub fn put(&self, item: T) {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if s.item.replace(item).is_some() {
            self.overwritten.fetch_add(1, Ordering::Relaxed);
        }
        self.put.fetch_add(1, Ordering::Relaxed);
        drop(s);
        self.ready.notify_one();
    }

    /// Takes the newest item, waiting up to `timeout`. `None` on timeout or once closed and
    /// empty.
    pub fn take_timeout(&self, timeout: Duration) -> Option<T> {
        let s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let (mut s, _) = self
            .ready
            .wait_timeout_while(s, timeout, |s| s.item.is_none() && !s.closed)
            .unwrap_or_else(|e| e.into_inner());
        self.count_taken(s.item.take())
    }

    /// Takes the newest item if there is one.
    pub fn try_take(&self) -> Option<T> {
        let item = self.slot.lock().unwrap_or_else(|e| e.into_inner()).item.take();
        self.count_taken(item)
    }

    fn count_taken(&self, item: Option<T>) -> Option<T> {
        if item.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        item
    }

    /// Whether an item is waiting (without taking it).
    pub fn has_item(&self) -> bool {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).item.is_some()
    }

    /// Wakes waiting consumers for good; later `put`s are still accepted.
    pub fn close(&self) {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        self.ready.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).closed
    }

    /// Items ever put.
    pub fn put_count(&self) -> u64 {
        self.put.load(Ordering::Relaxed)
    }

    /// Items replaced before anyone took them.
    pub fn overwritten_count(&self) -> u64 {
        self.overwritten.load(Ordering::Relaxed)
    }

    /// Items a consumer took.
    pub fn taken_count(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn keeps_the_newest_and_counts_the_overwritten() {
        let l = Latest::new();
        l.put(1);
        l.put(2);
        l.put(3);
        assert!(l.has_item());
        assert_eq!(l.try_take(), Some(3));
        assert!(!l.has_item());
        assert_eq!(l.try_take(), None);
        assert_eq!((l.put_count(), l.overwritten_count(), l.taken_count()), (3, 2, 1));
    }

    #[test]
    fn a_waiting_consumer_wakes_on_put_and_on_close() {
        let l = Arc::new(Latest::new());
        let l2 = l.clone();
        let t = std::thread::spawn(move || l2.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        l.put(7);
        assert_eq!(t.join().unwrap(), Some(7));
        let l2 = l.clone();
        let t = std::thread::spawn(move || l2.take_timeout(Duration::from_secs(10)));
        l.close();
        assert_eq!(t.join().unwrap(), None);
        assert!(l.is_closed());
    }
}
