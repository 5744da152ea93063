//! Recycled frame buffers, so steady-state capture allocates nothing per frame.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};

/// A bounded set of reusable byte buffers shared by one camera's capture thread and its consumers.
#[derive(Clone)]
pub struct BufferPool {
    free_tx: Sender<Vec<u8>>,
    free_rx: Receiver<Vec<u8>>,
    stats: Arc<PoolStats>,
}

/// Counts kept by a pool, so tests and metrics can see whether frames reuse memory.
#[derive(Default)]
pub struct PoolStats {
    allocated: std::sync::atomic::AtomicU64,
    reused: std::sync::atomic::AtomicU64,
}

impl PoolStats {
    /// Buffers that had to be freshly allocated (or grown).
    pub fn allocated(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// Buffers handed out again from the free list without allocating.
    pub fn reused(&self) -> u64 {
        self.reused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl BufferPool {
    /// A pool that keeps at most `capacity` idle buffers; extra returned buffers are freed.
    pub fn new(capacity: usize) -> Self {
        let (free_tx, free_rx) = bounded(capacity.max(1));
        Self {
            free_tx,
            free_rx,
            stats: Arc::default(),
        }
    }

    /// A buffer of exactly `len` bytes (contents unspecified), reused when one is free.
    pub fn take(&self, len: usize) -> PooledBuf {
        use std::sync::atomic::Ordering::Relaxed;
        let mut data = match self.free_rx.try_recv() {
            Ok(v) if v.capacity() >= len => {
                self.stats.reused.fetch_add(1, Relaxed);
                v
            }
            _ => {
                self.stats.allocated.fetch_add(1, Relaxed);
                Vec::with_capacity(len)
            }
        };
        // Safe resize without re-zeroing when capacity suffices: zero-fill only the new tail.
        data.resize(len, 0);
        PooledBuf {
            data,
            home: Some(self.free_tx.clone()),
        }
    }

    /// Allocation and reuse counters of this pool.
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }
}

/// A byte buffer that goes back to its pool when dropped.
pub struct PooledBuf {
    data: Vec<u8>,
    home: Option<Sender<Vec<u8>>>,
}

impl PooledBuf {
    /// A buffer that belongs to no pool (tests, still images).
    pub fn detached(data: Vec<u8>) -> Self {
        Self { data, home: None }
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            // A full free list just means the buffer is freed instead of kept.
            let _ = home.try_send(std::mem::take(&mut self.data));
        }
    }
}

impl std::fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PooledBuf({} bytes)", self.data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_after_drop() {
        let pool = BufferPool::new(2);
        for _ in 0..10 {
            let b = pool.take(1000);
            assert_eq!(b.len(), 1000);
        }
        assert_eq!(pool.stats().allocated(), 1);
        assert_eq!(pool.stats().reused(), 9);
    }

    #[test]
    fn larger_request_allocates_again() {
        let pool = BufferPool::new(2);
        drop(pool.take(10));
        drop(pool.take(100));
        assert_eq!(pool.stats().allocated(), 2);
    }
}
