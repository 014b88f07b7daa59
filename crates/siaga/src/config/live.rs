//! The configuration in force, replaceable while siaga runs (SPEC 6.1.3): [`Live`] holds
//! one value that a reload swaps as a whole; every reader takes a cheap snapshot
//! ([`Live::get`]) and keeps using it to the end of what it is doing, so no order ever sees
//! half of an old config and half of a new one.

use std::sync::{Arc, RwLock};

/// A shared, replaceable value. Clones share the same cell.
pub struct Live<T: ?Sized>(Arc<RwLock<Arc<T>>>);

impl<T: ?Sized> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(self.0.clone())
    }
}

impl<T> Live<T> {
    pub fn new(v: T) -> Live<T> {
        Live(Arc::new(RwLock::new(Arc::new(v))))
    }
}

impl<T: ?Sized> Live<T> {
    /// The value in force now.
    pub fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(g) => g.clone(),
            // A writer never panics while holding the lock (it only swaps an Arc); take the
            // value anyway rather than fail a reader.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `v` in force for every reader from now on.
    pub fn set(&self, v: Arc<T>) {
        match self.0.write() {
            Ok(mut g) => *g = v,
            Err(poisoned) => *poisoned.into_inner() = v,
        }
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Live").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_taken_before_a_set_keeps_its_value() {
        let live = Live::new(1);
        let shared = live.clone();
        let before = live.get();
        shared.set(Arc::new(2));
        assert_eq!(*before, 1);
        assert_eq!(*live.get(), 2);
    }
}
