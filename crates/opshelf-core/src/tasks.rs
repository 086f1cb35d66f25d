//! Background work a capability owns, and the reload signal.
//!
//! Every background task goes through [`Tasks`] (never a detached `tokio::spawn`), so `serve`
//! can wait for all of them — within the grace period — after the listeners have drained
//! and before storage closes: a final flush that runs on shutdown finds storage open.
//! (mini-redis' `shutdown_complete` idea, on tokio-util's `TaskTracker`.)
//!
//! [`Reload`] is SIGHUP: the binary owns the signal and bumps the counter; a capability that
//! reloads rules, certificates or reopens log files waits on [`Reload::changed`].

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::shutdown::Shutdown;

/// Spawns and tracks background tasks; cheap to clone.
#[derive(Debug, Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: Shutdown,
    owner: &'static str,
}

impl Tasks {
    /// Tasks that stop when `shutdown` fires.
    #[must_use]
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            tracker: TaskTracker::new(),
            shutdown,
            owner: "opshelf",
        }
    }

    /// The same tracker, with tasks named after `owner` in logs.
    #[must_use]
    pub fn for_owner(&self, owner: &'static str) -> Self {
        Self {
            tracker: self.tracker.clone(),
            shutdown: self.shutdown.clone(),
            owner,
        }
    }

    /// The shutdown signal these tasks obey.
    #[must_use]
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Run `fut` in the background; it must end by itself once the shutdown signal fires
    /// (select on [`Tasks::shutdown`]). `serve` waits for it before closing storage.
    pub fn spawn<F>(&self, name: &'static str, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let owner = self.owner;
        tracing::debug!(owner, task = name, "background task started");
        self.tracker.spawn(async move {
            fut.await;
            tracing::debug!(owner, task = name, "background task ended");
        });
    }

    /// Run `tick` every `period` (first after one period) until shutdown, then run
    /// `on_stop` once — e.g. a periodic flush whose last run happens at shutdown. A tick
    /// runs to its end before the next one starts, and is never cut off by shutdown.
    pub fn spawn_every<T, TF, S, SF>(
        &self,
        name: &'static str,
        period: Duration,
        tick: T,
        on_stop: S,
    ) where
        T: FnMut() -> TF + Send + 'static,
        TF: Future<Output = ()> + Send + 'static,
        S: FnOnce() -> SF + Send + 'static,
        SF: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        let mut tick = tick;
        self.spawn(name, async move {
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.wait() => break,
                    _ = every.tick() => tick().await,
                }
            }
            on_stop().await;
        });
    }

    /// No more tasks may be spawned; wait (at most `grace`) for the running ones. `true` if
    /// every task ended in time.
    pub async fn close_and_wait(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }

    /// How many tasks are running.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether no task is running.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tracker.is_empty()
    }
}

/// The reload signal (SIGHUP): a counter the binary bumps.
#[derive(Debug, Clone)]
pub struct Reload {
    tx: std::sync::Arc<watch::Sender<u64>>,
    rx: watch::Receiver<u64>,
}

impl Default for Reload {
    fn default() -> Self {
        Self::new()
    }
}

impl Reload {
    /// A signal that has not fired.
    #[must_use]
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(0);
        Self {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    /// Ask every listener to reload.
    pub fn trigger(&self) {
        self.tx.send_modify(|n| *n += 1);
    }

    /// Resolves at the next reload after this handle last saw one (a clone starts from the
    /// reloads seen so far, so a reload is never missed between two waits).
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The sender lives in `self`: this cannot happen, but never spin.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spawn_every_ticks_then_runs_on_stop_before_close_returns() {
        let shutdown = Shutdown::new();
        let tasks = Tasks::new(shutdown.clone());
        let ticks = Arc::new(AtomicUsize::new(0));
        let stopped = Arc::new(AtomicUsize::new(0));
        let (t, s) = (Arc::clone(&ticks), Arc::clone(&stopped));
        tasks.spawn_every(
            "count",
            Duration::from_secs(1),
            move || {
                let t = Arc::clone(&t);
                async move {
                    t.fetch_add(1, Ordering::SeqCst);
                }
            },
            move || async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                s.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), 3);
        shutdown.trigger();
        assert!(tasks.close_and_wait(Duration::from_secs(5)).await);
        assert_eq!(stopped.load(Ordering::SeqCst), 1);
        assert!(tasks.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn close_and_wait_gives_up_after_the_grace_period() {
        let shutdown = Shutdown::new();
        let tasks = Tasks::new(shutdown.clone());
        tasks.spawn("stubborn", std::future::pending());
        shutdown.trigger();
        assert!(!tasks.close_and_wait(Duration::from_secs(1)).await);
        assert_eq!(tasks.len(), 1);
    }

    #[tokio::test]
    async fn reload_wakes_every_subscriber_once_per_trigger() {
        let reload = Reload::new();
        let mut a = reload.clone();
        let waiter = tokio::spawn(async move {
            a.changed().await;
            1
        });
        reload.trigger();
        assert_eq!(waiter.await.unwrap(), 1);
    }
}
