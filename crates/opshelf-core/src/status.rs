//! What each capability says about its health, and the board `/status` and `/readyz` read.
//!
//! A capability hands the platform a [`StatusSource`]; `/status` asks every source on each
//! request (reports are cheap: a few atomics or a snapshot read), and adds the listeners the
//! binary bound. The readiness rule (`/readyz`): storage answers, every enabled capability
//! has started, and every report says it is `serving` — a capability may be degraded and
//! still serve (the WAF after a failed reload keeps its previous rules), but a sealed vault
//! answers only `sys/*`, so it is not serving and opshelf is not ready, as Vault's own
//! `sys/health` answers 503 while sealed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::{Map, Value};

/// How a capability is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Doing its job.
    Up,
    /// Working in part (sealed, a failed reload, an old advisory database): see `summary`.
    Degraded,
    /// Not doing its job.
    Down,
}

/// One capability's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub health: Health,
    /// Whether its listeners can answer their clients' ordinary requests (the readiness rule).
    pub serving: bool,
    /// One line for people: what is wrong and what to do next, or what it does.
    pub summary: String,
    /// A few facts (`sealed`, `rules_loaded`, `flags`, ...), for the console and scripts.
    pub facts: Map<String, Value>,
}

impl Report {
    /// Up and serving.
    #[must_use]
    pub fn up(summary: impl Into<String>) -> Self {
        Self {
            health: Health::Up,
            serving: true,
            summary: summary.into(),
            facts: Map::new(),
        }
    }

    /// Degraded; `serving` says whether clients are still answered.
    #[must_use]
    pub fn degraded(summary: impl Into<String>, serving: bool) -> Self {
        Self {
            health: Health::Degraded,
            serving,
            summary: summary.into(),
            facts: Map::new(),
        }
    }

    /// Down: not serving.
    #[must_use]
    pub fn down(summary: impl Into<String>) -> Self {
        Self {
            health: Health::Down,
            serving: false,
            summary: summary.into(),
            facts: Map::new(),
        }
    }

    /// Add a fact.
    #[must_use]
    pub fn fact(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.facts.insert(key.to_owned(), value.into());
        self
    }
}

/// Where the platform reads a capability's health.
pub trait StatusSource: Send + Sync + 'static {
    /// The report now. Must be cheap and must not block (no I/O).
    fn report(&self) -> Report;
}

impl<F> StatusSource for F
where
    F: Fn() -> Report + Send + Sync + 'static,
{
    fn report(&self) -> Report {
        self()
    }
}

/// A listener as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerInfo {
    pub name: String,
    /// The capability that serves it (`"admin"` for the admin listener).
    pub capability: String,
    /// Its config key (`"secrets.listen"`).
    pub key: String,
    /// The address actually bound (so `127.0.0.1:0` resolves to a real port).
    pub addr: String,
    pub tls: bool,
}

#[derive(Clone)]
enum Entry {
    Disabled(String),
    Starting,
    Started(Arc<dyn StatusSource>),
    Failed(String),
}

/// Every capability's state and every listener, shared by the binary and the admin router.
#[derive(Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<Board>>,
}

#[derive(Default)]
struct Board {
    capabilities: BTreeMap<String, Entry>,
    order: Vec<String>,
    listeners: Vec<ListenerInfo>,
}

impl std::fmt::Debug for StatusBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBoard").finish_non_exhaustive()
    }
}

/// A capability as `/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityStatus {
    pub name: String,
    /// `disabled`, `starting`, `up`, `degraded` or `down`.
    pub state: String,
    pub serving: bool,
    pub summary: String,
    pub facts: Map<String, Value>,
}

impl StatusBoard {
    fn with<R>(&self, f: impl FnOnce(&mut Board) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, name: &str, entry: Entry) {
        self.with(|b| {
            if !b.capabilities.contains_key(name) {
                b.order.push(name.to_owned());
            }
            b.capabilities.insert(name.to_owned(), entry);
        });
    }

    /// A capability that is compiled in but switched off; `why` says how to switch it on.
    pub fn disabled(&self, name: &str, why: impl Into<String>) {
        self.set(name, Entry::Disabled(why.into()));
    }

    /// A capability about to start.
    pub fn starting(&self, name: &str) {
        self.set(name, Entry::Starting);
    }

    /// A capability that has started and reports through `source`.
    pub fn started(&self, name: &str, source: Arc<dyn StatusSource>) {
        self.set(name, Entry::Started(source));
    }

    /// A capability whose start failed.
    pub fn failed(&self, name: &str, why: impl Into<String>) {
        self.set(name, Entry::Failed(why.into()));
    }

    /// Record a bound listener.
    pub fn listener(&self, info: ListenerInfo) {
        self.with(|b| b.listeners.push(info));
    }

    /// Every listener bound so far.
    #[must_use]
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.with(|b| b.listeners.clone())
    }

    /// Every capability's status now, in registration order.
    #[must_use]
    pub fn capabilities(&self) -> Vec<CapabilityStatus> {
        // Copy the entries out first: reports run without the board's lock.
        let entries: Vec<(String, Entry)> = self.with(|b| {
            b.order
                .iter()
                .filter_map(|n| b.capabilities.get(n).map(|e| (n.clone(), e.clone())))
                .collect()
        });
        entries
            .into_iter()
            .map(|(name, entry)| match entry {
                Entry::Disabled(why) => CapabilityStatus {
                    name,
                    state: "disabled".to_owned(),
                    serving: false,
                    summary: why,
                    facts: Map::new(),
                },
                Entry::Starting => CapabilityStatus {
                    name,
                    state: "starting".to_owned(),
                    serving: false,
                    summary: "starting".to_owned(),
                    facts: Map::new(),
                },
                Entry::Failed(why) => CapabilityStatus {
                    name,
                    state: "down".to_owned(),
                    serving: false,
                    summary: why,
                    facts: Map::new(),
                },
                Entry::Started(source) => {
                    let r = source.report();
                    let state = match r.health {
                        Health::Up => "up",
                        Health::Degraded => "degraded",
                        Health::Down => "down",
                    };
                    CapabilityStatus {
                        name,
                        state: state.to_owned(),
                        serving: r.serving,
                        summary: r.summary,
                        facts: r.facts,
                    }
                }
            })
            .collect()
    }

    /// The readiness rule for capabilities: every enabled one has started and is serving.
    #[must_use]
    pub fn all_serving(caps: &[CapabilityStatus]) -> bool {
        caps.iter().all(|c| c.state == "disabled" || c.serving)
    }
}

/// A read-only view of the [`StatusBoard`], for a capability that shows the platform (the
/// console): every bound listener (so it can reach the others over HTTP, as any client would)
/// and every capability's report. Empty until the binary fills [`crate::Context::board`].
#[derive(Clone, Default)]
pub struct BoardView(StatusBoard);

impl std::fmt::Debug for BoardView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardView").finish_non_exhaustive()
    }
}

impl BoardView {
    /// Every listener bound so far.
    #[must_use]
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.0.listeners()
    }

    /// Every capability's status now.
    #[must_use]
    pub fn capabilities(&self) -> Vec<CapabilityStatus> {
        self.0.capabilities()
    }
}

impl StatusBoard {
    /// The read-only view handed to capabilities.
    #[must_use]
    pub fn view(&self) -> BoardView {
        BoardView(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_reports_in_order_and_applies_the_readiness_rule() {
        let board = StatusBoard::default();
        board.disabled("waf", "set [waf] upstream to start the proxy");
        board.starting("secrets");
        let caps = board.capabilities();
        assert_eq!(caps[0].name, "waf");
        assert_eq!(caps[1].state, "starting");
        assert!(!StatusBoard::all_serving(&caps));

        let sealed = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let s = Arc::clone(&sealed);
        board.started(
            "secrets",
            Arc::new(move || {
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    Report::degraded("sealed", false).fact("sealed", true)
                } else {
                    Report::up("unsealed").fact("sealed", false)
                }
            }),
        );
        let caps = board.capabilities();
        assert_eq!(caps[1].state, "degraded");
        assert_eq!(caps[1].facts["sealed"], true);
        assert!(!StatusBoard::all_serving(&caps));
        sealed.store(false, std::sync::atomic::Ordering::Relaxed);
        let caps = board.capabilities();
        assert_eq!(caps[1].state, "up");
        assert!(StatusBoard::all_serving(&caps));

        board.started("waf", Arc::new(|| Report::degraded("reload failed", true)));
        assert!(StatusBoard::all_serving(&board.capabilities()));
        board.failed("flags", "storage");
        assert!(!StatusBoard::all_serving(&board.capabilities()));
    }
}
