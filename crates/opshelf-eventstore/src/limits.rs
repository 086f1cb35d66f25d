//! Per-tenant and per-stream ingestion rate limits (token buckets over encoded bytes).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::error::{Error, Result};

struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Default)]
pub(crate) struct RateLimits {
    tenants: Mutex<HashMap<String, Bucket>>,
    streams: Mutex<HashMap<u64, Bucket>>,
}

/// Takes `n` tokens from the bucket or says how long until it could.
fn take<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Bucket>,
    key: K,
    rate: u64,
    burst: u64,
    n: u64,
    now: Instant,
) -> Option<Duration> {
    let burst = burst.max(rate) as f64;
    let b = map.entry(key).or_insert(Bucket {
        tokens: burst,
        last: now,
    });
    b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate as f64).min(burst);
    b.last = now;
    let n = n as f64;
    if n <= b.tokens {
        b.tokens -= n;
        None
    } else if n > burst && b.tokens >= burst {
        // a batch larger than the burst passes on a full bucket (and empties it)
        b.tokens = 0.0;
        None
    } else {
        Some(Duration::from_secs_f64(
            ((n.min(burst) - b.tokens) / rate as f64).min(60.0),
        ))
    }
}

fn refund<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Bucket>, key: &K, n: u64) {
    if let Some(b) = map.get_mut(key) {
        b.tokens += n as f64;
    }
}

impl RateLimits {
    pub(crate) fn check(&self, l: &Limits, tenant: &str, stream: u64, n: u64) -> Result<()> {
        let now = Instant::now();
        if l.tenant_bytes_per_sec > 0 {
            let mut t = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
            if t.len() > 100_000 {
                t.clear();
            }
            if let Some(retry_after) = take(
                &mut t,
                tenant.to_owned(),
                l.tenant_bytes_per_sec,
                l.tenant_burst_bytes,
                n,
                now,
            ) {
                return Err(Error::RateLimited {
                    scope: "tenant",
                    retry_after,
                });
            }
        }
        if l.stream_bytes_per_sec > 0 {
            let mut s = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
            if s.len() > 1_000_000 {
                s.clear();
            }
            if let Some(retry_after) = take(
                &mut s,
                stream,
                l.stream_bytes_per_sec,
                l.stream_burst_bytes,
                n,
                now,
            ) {
                drop(s);
                if l.tenant_bytes_per_sec > 0 {
                    let mut t = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
                    refund(&mut t, &tenant.to_owned(), n);
                }
                return Err(Error::RateLimited {
                    scope: "stream",
                    retry_after,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_bucket_refuses_past_burst_then_refills() {
        let l = Limits {
            tenant_bytes_per_sec: 1000,
            tenant_burst_bytes: 2000,
            ..Limits::default()
        };
        let r = RateLimits::default();
        assert!(r.check(&l, "a", 1, 1500).is_ok());
        let e = r.check(&l, "a", 1, 1500).unwrap_err();
        assert!(
            matches!(
                e,
                Error::RateLimited {
                    scope: "tenant",
                    ..
                }
            ),
            "{e}"
        );
        assert!(r.check(&l, "b", 2, 1500).is_ok(), "tenants are independent");
    }

    #[test]
    fn stream_limit_refunds_the_tenant() {
        let l = Limits {
            tenant_bytes_per_sec: 10_000,
            tenant_burst_bytes: 10_000,
            stream_bytes_per_sec: 100,
            stream_burst_bytes: 100,
            ..Limits::default()
        };
        let r = RateLimits::default();
        assert!(r.check(&l, "a", 1, 100).is_ok());
        assert!(matches!(
            r.check(&l, "a", 1, 100),
            Err(Error::RateLimited {
                scope: "stream",
                ..
            })
        ));
        assert!(r.check(&l, "a", 2, 9_900).is_ok());
    }
}
