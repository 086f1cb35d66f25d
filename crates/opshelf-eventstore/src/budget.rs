//! A byte budget shared by threads and tasks: reservations that wait (a condition variable
//! for threads, `Notify` for async callers) and are released when memory is freed.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct Budget {
    limit: usize,
    used: Mutex<usize>,
    cv: Condvar,
    notify: tokio::sync::Notify,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: Mutex::new(0),
            cv: Condvar::new(),
            notify: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> usize {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        let mut u = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if *u + n <= self.limit {
            *u += n;
            true
        } else {
            false
        }
    }

    /// Waits up to `timeout` for `n` bytes (a thread, never a runtime worker).
    pub(crate) fn reserve_blocking(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut u = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *u + n <= self.limit {
                *u += n;
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            u = self
                .cv
                .wait_timeout(u, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits up to `timeout` for `n` bytes without blocking the runtime.
    pub(crate) async fn reserve(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            if self.try_reserve(n) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.try_reserve(n);
            }
        }
    }

    /// Charges bytes that are already in use (head growth), even past the limit.
    pub(crate) fn charge(&self, n: usize) {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner) += n;
    }

    pub(crate) fn release(&self, n: usize) {
        {
            let mut u = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            *u = u.saturating_sub(n);
        }
        self.cv.notify_all();
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reserve_waits_for_release() {
        let b = Arc::new(Budget::new(100));
        assert!(b.try_reserve(80));
        assert!(!b.reserve_blocking(30, Duration::from_millis(20)));
        let b2 = b.clone();
        let t = std::thread::spawn(move || b2.reserve_blocking(30, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(20));
        b.release(50);
        assert!(t.join().unwrap());
        assert_eq!(b.used(), 60);
    }

    #[tokio::test]
    async fn async_reserve_times_out_then_succeeds() {
        let b = Arc::new(Budget::new(10));
        assert!(b.try_reserve(10));
        assert!(!b.reserve(1, Duration::from_millis(10)).await);
        let b2 = b.clone();
        let h = tokio::spawn(async move { b2.reserve(5, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        b.release(5);
        assert!(h.await.unwrap());
    }
}
