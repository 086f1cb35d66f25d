//! The accept loop every listener runs: connection caps, header-read and idle timeouts,
//! TLS, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! Per connection, in order: the cap check (over `max_connections` in all, or over
//! `max_connections_per_ip` from one address, the connection is closed at once — refused,
//! never queued); the first byte must arrive within `header_read_timeout` (a client that
//! connects and sends nothing, or stalls before hyper can tell HTTP/1 from HTTP/2); the TLS
//! handshake within 10 s; then hyper serves it with its HTTP/1 header-read timer (which also
//! bounds the wait between keep-alive requests, as Vault's `http_read_header_timeout` does for
//! the first) and [`IdleIo`] closes a connection on which no byte moves either way for
//! `idle_timeout` (a stalled body, an HTTP/2 connection nobody uses, a client that stops
//! reading). References: Vault's `http_read_header_timeout` 10 s and `http_idle_timeout` 5 m,
//! nginx's `client_header_timeout` 60 s and `keepalive_timeout` 75 s.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::Limits;
use crate::metrics::{ConnectionLabels, Metrics};
use crate::shutdown::Shutdown;

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener is served with, besides its router.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The listener's name, for logs and metrics.
    pub name: Arc<str>,
    /// Serve over TLS with the config this holds now (the binary replaces it on SIGHUP;
    /// each new connection uses the latest).
    pub tls: Option<tokio::sync::watch::Receiver<Arc<rustls::ServerConfig>>>,
    pub limits: Limits,
    /// After shutdown fires, in-flight requests get this long.
    pub grace: Duration,
}

/// Serve `router` on `listener` until `shutdown` fires, then stop accepting, let in-flight
/// requests finish for at most `grace`, and return.
///
/// # Errors
/// None today: accept errors (out of file descriptors) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    shutdown: Shutdown,
    metrics: &Metrics,
) -> io::Result<()> {
    let limits = opts.limits;
    let gate = Arc::new(Gate::new(
        limits.max_connections,
        limits.max_connections_per_ip.unwrap_or(0),
    ));
    let labels = ConnectionLabels {
        listener: opts.name.to_string(),
    };
    let open = metrics
        .http()
        .open_connections
        .get_or_create(&labels)
        .clone();
    let refused = metrics
        .http()
        .refused_connections
        .get_or_create(&labels)
        .clone();
    let timed_out = metrics
        .http()
        .timed_out_connections
        .get_or_create(&labels)
        .clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

    loop {
        let accepted = tokio::select! {
            () = shutdown.wait() => break,
            r = listener.accept() => r,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %opts.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = gate.admit(peer.ip()) else {
            refused.inc();
            tracing::debug!(listener = %opts.name, %peer, "connection refused: over the cap");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = opts
            .tls
            .as_ref()
            .map(|rx| tokio_rustls::TlsAcceptor::from(Arc::clone(&rx.borrow())));
        let conn = Conn {
            router: router.clone(),
            builder: Arc::clone(&builder),
            acceptor,
            watcher: graceful.watcher(),
            limits,
            open: open.clone(),
            timed_out: timed_out.clone(),
        };
        tokio::spawn(conn.run(tcp, peer, permit));
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(opts.grace) => {
            tracing::warn!(listener = %opts.name,
                grace_ms = u64::try_from(opts.grace.as_millis()).unwrap_or(u64::MAX),
                "grace period over; dropping connections still open");
        }
    }
    Ok(())
}

struct Conn {
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
    limits: Limits,
    open: Gauge,
    timed_out: Counter,
}

impl Conn {
    async fn run(self, tcp: TcpStream, peer: SocketAddr, permit: Permit) {
        let _permit = permit;
        self.open.inc();
        let _open = GaugeGuard(self.open.clone());
        // The first byte, within the header timeout: hyper's own timer starts only once it
        // knows the protocol, and TLS waits for a ClientHello.
        let mut first = [0u8; 1];
        match tokio::time::timeout(self.limits.header_read_timeout, tcp.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return,
            Err(_) => {
                self.timed_out.inc();
                tracing::debug!(%peer, "connection closed: nothing sent within the header timeout");
                return;
            }
        }
        let service = TowerToHyperService::new(self.router.map_request(
            move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let idle = self.limits.idle_timeout;
        let result = match self.acceptor {
            None => {
                let io = TokioIo::new(IdleIo::new(tcp, idle));
                let conn = self
                    .builder
                    .serve_connection_with_upgrades(io, service)
                    .into_owned();
                self.watcher.watch(conn).await
            }
            Some(acceptor) => {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        self.timed_out.inc();
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let io = TokioIo::new(IdleIo::new(tls, idle));
                let conn = self
                    .builder
                    .serve_connection_with_upgrades(io, service)
                    .into_owned();
                self.watcher.watch(conn).await
            }
        };
        if let Err(e) = result {
            let timeout = e
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
                || e.downcast_ref::<io::Error>()
                    .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut);
            if timeout {
                self.timed_out.inc();
            }
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Decrements the open-connections gauge when the connection task ends, however it ends.
struct GaugeGuard(Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts connections, in all and per client address.
#[derive(Debug)]
struct Gate {
    max: usize,
    per_ip: usize,
    counts: Mutex<GateCounts>,
}

#[derive(Debug, Default)]
struct GateCounts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl Gate {
    /// `0` means no cap.
    fn new(max: usize, per_ip: usize) -> Self {
        Self {
            max,
            per_ip,
            counts: Mutex::new(GateCounts::default()),
        }
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Permit> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if self.max > 0 && c.total >= self.max {
            return None;
        }
        if self.per_ip > 0 {
            let n = c.by_ip.entry(ip).or_insert(0);
            if *n >= self.per_ip {
                return None;
            }
            *n += 1;
        }
        c.total += 1;
        Some(Permit {
            gate: Arc::clone(self),
            ip,
        })
    }
}

/// One admitted connection; released on drop.
#[derive(Debug)]
struct Permit {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self
            .gate
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if self.gate.per_ip > 0
            && let Some(n) = c.by_ip.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

/// A stream that fails with `TimedOut` once no byte has moved either way for `idle`, checked
/// whenever the connection waits to read or write.
struct IdleIo<S> {
    inner: S,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleIo<S> {
    fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past the idle timeout",
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = ready!(Pin::new(&mut self.inner).poll_flush(cx));
        Poll::Ready(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(header: u64, idle: u64, max: usize, per_ip: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(header),
            idle_timeout: Duration::from_millis(idle),
            max_connections: max,
            max_connections_per_ip: Some(per_ip),
            ..Limits::default()
        }
    }

    async fn start(l: Limits) -> (SocketAddr, Shutdown, Metrics) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new();
        let metrics = Metrics::new();
        let router = Router::new().route(
            "/",
            get(|| async { "ok" }).post(|b: axum::body::Bytes| async move { b.len().to_string() }),
        );
        let opts = ServeOptions {
            name: Arc::from("t"),
            tls: None,
            limits: l,
            grace: Duration::from_secs(1),
        };
        let (s, m) = (shutdown.clone(), metrics.clone());
        tokio::spawn(async move { serve(listener, router, opts, s, &m).await });
        (addr, shutdown, metrics)
    }

    async fn get_ok(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Reads until EOF or error; how long that took.
    async fn closed_after(mut s: TcpStream) -> Duration {
        let t = Instant::now();
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return t.elapsed(),
                Ok(_) => {}
            }
        }
    }

    #[tokio::test]
    async fn silent_and_half_sent_requests_are_closed_within_the_header_timeout() {
        let (addr, _sd, metrics) = start(limits(300, 5000, 0, 0)).await;
        let silent = TcpStream::connect(addr).await.unwrap();
        let mut half = TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let (a, b) = tokio::join!(closed_after(silent), closed_after(half));
        assert!(a < Duration::from_secs(2), "{a:?}");
        assert!(b < Duration::from_secs(2), "{b:?}");
        // Others are served meanwhile and after.
        assert!(get_ok(addr).await.starts_with("HTTP/1.1 200"));
        assert!(
            metrics
                .encode()
                .contains("opshelf_http_timed_out_connections_total{listener=\"t\"} 2")
        );
    }

    #[tokio::test]
    async fn past_the_cap_connections_are_refused_not_queued() {
        let (addr, _sd, metrics) = start(limits(5000, 5000, 2, 0)).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"G").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let over = TcpStream::connect(addr).await.unwrap();
        assert!(closed_after(over).await < Duration::from_secs(1));
        assert!(
            metrics
                .encode()
                .contains("opshelf_http_refused_connections_total{listener=\"t\"} 1")
        );
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(get_ok(addr).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn per_address_cap() {
        let (addr, _sd, _m) = start(limits(5000, 5000, 0, 1)).await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"G").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = TcpStream::connect(addr).await.unwrap();
        assert!(closed_after(second).await < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_stalled_body_is_closed_after_the_idle_timeout() {
        let (addr, _sd, _m) = start(limits(5000, 300, 0, 0)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
            .await
            .unwrap();
        assert!(closed_after(s).await < Duration::from_secs(3));
    }
}
