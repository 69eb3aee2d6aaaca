//! The heap meter: QuickJS's allocator, wrapped to enforce the job's heap limit
//! and to make running out of memory fatal and recognisable.
//!
//! QuickJS ignores `JS_SetMemoryLimit` when a custom allocator is installed, so
//! the limit lives here. A refused allocation sets a flag that the interrupt
//! handler turns into an uncatchable stop: a script that catches its
//! out-of-memory error (which may be `null`, with no room for an `Error`) and
//! keeps allocating is still stopped, as `oom`. From that first refusal on,
//! every allocation is refused, so the script reaches the interrupt check
//! soon instead of copying memory around until the deadline.
//!
//! Stopping itself needs memory: QuickJS makes a run stop by throwing an
//! uncatchable error, and that error is an object it must allocate. With the
//! heap full, the allocation fails, QuickJS throws `null` instead, and `null`
//! is catchable, so a script that catches out-of-memory in a loop would run
//! on to the deadline. Once the run is stopping (see [`HeapStats::stopping`]),
//! the meter therefore grants a small reserve over the limit.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rquickjs::allocator::{Allocator, RustAllocator};

/// Bytes the heap may grow past its limit once the run is stopping: room for
/// the uncatchable error (and its stack trace) that ends the script.
pub const STOP_RESERVE: usize = 1024 * 1024;

/// Counters shared between the allocator (owned by the engine) and the runner.
#[derive(Debug, Default)]
pub struct HeapStats {
    limit: AtomicUsize,
    used: AtomicUsize,
    peak: AtomicUsize,
    exhausted: AtomicBool,
    stopping: AtomicBool,
}

impl HeapStats {
    /// Bytes the JS heap holds now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most bytes the JS heap held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Whether an allocation was ever refused for the limit.
    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Sets the heap limit in bytes: a runner readied before its job runs its
    /// prelude under the smallest limit any job may have, then takes the job's.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// The heap limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Grants [`STOP_RESERVE`] over the limit from now on. The engine calls
    /// this when it is about to stop the script, so that the error that stops
    /// it can be allocated (only a `prepareStackTrace` hook can run after it).
    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Counts `by` more bytes if they fit under the limit.
    ///
    /// Once an allocation has been refused the run is doomed, but the engine
    /// only stops it at its next interrupt check, which can be seconds of
    /// allocation-heavy work away (every check waits ~10,000 ticks, and a big
    /// copy is one tick). So until the stop begins every allocation is
    /// refused: work that needs memory fails at once, and the script reaches
    /// the check quickly. (Small objects still come from QuickJS's own
    /// arenas while those have room.)
    fn grow(&self, by: usize) -> bool {
        let limit = self.limit();
        let limit = if self.stopping.load(Ordering::Relaxed) {
            limit.saturating_add(STOP_RESERVE)
        } else if self.exhausted.load(Ordering::Relaxed) {
            return false;
        } else {
            limit
        };
        if self.used.load(Ordering::Relaxed).saturating_add(by) > limit {
            self.exhausted.store(true, Ordering::Relaxed);
            return false;
        }
        self.count(by);
        true
    }

    /// Counts `by` more bytes, unchecked: for re-counting what the inner
    /// allocator actually reserved.
    fn count(&self, by: usize) {
        // One engine thread allocates; relaxed loads and stores are enough.
        let now = self.used.load(Ordering::Relaxed).saturating_add(by);
        self.used.store(now, Ordering::Relaxed);
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.store(now, Ordering::Relaxed);
        }
    }

    fn shrink(&self, by: usize) {
        let now = self.used.load(Ordering::Relaxed);
        self.used.store(now.saturating_sub(by), Ordering::Relaxed);
    }
}

/// An allocator that refuses to let the JS heap grow past `limit` bytes.
pub struct MeteredAllocator {
    inner: RustAllocator,
    stats: Arc<HeapStats>,
}

impl MeteredAllocator {
    /// A meter with a limit in bytes (changed later through
    /// [`HeapStats::set_limit`]), reporting into `stats`.
    pub fn new(limit: usize, stats: Arc<HeapStats>) -> Self {
        stats.set_limit(limit);
        Self {
            inner: RustAllocator,
            stats,
        }
    }
}

// SAFETY: every method forwards to `RustAllocator`, which upholds the trait's
// contract; the meter only decides whether to forward, and returning null is
// always allowed. Sizes are read with `usable_size` on pointers that came from
// the same inner allocator, before they are freed or moved.
unsafe impl Allocator for MeteredAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.stats.grow(size) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.alloc(size);
        if ptr.is_null() {
            self.stats.shrink(size);
            return ptr;
        }
        // SAFETY: `ptr` was just returned by the inner allocator.
        let actual = unsafe { RustAllocator::usable_size(ptr) };
        self.stats.shrink(size);
        self.stats.count(actual);
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.stats.grow(total) {
            return std::ptr::null_mut();
        }
        let ptr = self.inner.calloc(count, size);
        self.stats.shrink(total);
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by the inner allocator.
            let actual = unsafe { RustAllocator::usable_size(ptr) };
            self.stats.count(actual);
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: the caller guarantees `ptr` came from this allocator, which
        // hands out only the inner allocator's pointers.
        let size = unsafe { RustAllocator::usable_size(ptr) };
        self.stats.shrink(size);
        // SAFETY: as above; it is freed exactly once, here.
        unsafe { self.inner.dealloc(ptr) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        let old = if ptr.is_null() {
            0
        } else {
            // SAFETY: the caller guarantees `ptr` came from this allocator.
            unsafe { RustAllocator::usable_size(ptr) }
        };
        if new_size > old && !self.stats.grow(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator.
        let new = unsafe { self.inner.realloc(ptr, new_size) };
        if new.is_null() {
            if new_size > old {
                self.stats.shrink(new_size - old);
            }
            return new;
        }
        // Re-count from what the inner allocator actually reserved.
        if new_size > old {
            self.stats.shrink(new_size - old);
        }
        // SAFETY: `new` was just returned by the inner allocator.
        let actual = unsafe { RustAllocator::usable_size(new) };
        self.stats.shrink(old);
        self.stats.count(actual);
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller guarantees `ptr` came from this allocator.
        unsafe { RustAllocator::usable_size(ptr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_remembers() {
        let stats = Arc::new(HeapStats::default());
        let mut a = MeteredAllocator::new(4096, stats.clone());
        let p = a.alloc(1000);
        assert!(!p.is_null());
        assert!(stats.used() >= 1000);
        assert!(a.alloc(10_000).is_null());
        assert!(stats.exhausted());
        // Once exhausted, even what would fit is refused...
        assert!(a.alloc(16).is_null());
        // SAFETY: `p` came from `a`; a failed realloc leaves it valid.
        assert!(unsafe { a.realloc(p, 2000) }.is_null());
        // ...but shrinking and freeing still work and are counted.
        // SAFETY: `p` came from `a` and is freed once.
        let p = unsafe { a.realloc(p, 100) };
        assert!(!p.is_null());
        assert!(stats.peak() >= 1000);
        // SAFETY: `p` came from `a` and is freed once.
        unsafe { a.dealloc(p) };
        assert_eq!(stats.used(), 0);
    }

    #[test]
    fn stopping_grants_the_reserve() {
        let stats = Arc::new(HeapStats::default());
        let mut a = MeteredAllocator::new(4096, stats.clone());
        assert!(a.alloc(8192).is_null());
        stats.stopping();
        let p = a.alloc(8192);
        assert!(!p.is_null());
        assert!(a.alloc(STOP_RESERVE).is_null());
        // SAFETY: `p` came from `a` and is freed once.
        unsafe { a.dealloc(p) };
    }
}
