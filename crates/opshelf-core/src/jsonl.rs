//! A JSON-lines file (audit logs) written without ever blocking a runtime thread.
//!
//! A dedicated OS thread owns the file. Callers send serialized lines through a bounded
//! channel ([`JsonlWriter::submit`], [`JsonlWriter::write`], [`JsonlWriter::enqueue`]);
//! when the queue is full they wait for room (back-pressure: a line is never dropped).
//! The thread drains everything queued, writes it with one `write_all` (group commit) and
//! answers each waiting caller once its batch is in the file.
//!
//! Durability: "written" means handed to the kernel (`write(2)` returned), which survives a
//! crash of opshelf but not of the machine. That is what Vault's file audit device
//! guarantees (its `FileSink` writes each entry under a lock and never calls `fsync`), and
//! it is what a request that must be audited waits for. [`Options::fsync`] adds one
//! `fdatasync` per batch for those who want the log to survive a power cut.
//!
//! Like Vault's device, a failed write closes the file, reopens the path and retries once;
//! when that fails too, every caller of the batch gets the error (an audited request is
//! then refused by its caller). The file is opened in append mode, created `0600`.
//!
//! Rotation: by size ([`Options::max_bytes`], [`Options::keep`]: `path` → `path.1` →
//! … → `path.N`, never splitting a line), and/or by an outside tool: after logrotate renames
//! the file, [`JsonlWriter::reopen`] (the binary calls it on `SIGHUP`, as Vault reopens its
//! file devices) starts a new one at `path`.
//!
//! Dropping the writer closes the channel; the thread writes what is still queued, syncs
//! (when `fsync`), closes the file and exits on its own (a drop never waits).
//! [`JsonlWriter::close`] does the same and waits for it.

use std::ffi::OsString;
use std::fs::File;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};

/// How a [`JsonlWriter`] keeps its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Rotate before the file would grow past this many bytes (`None`: never; leave it to
    /// logrotate and [`JsonlWriter::reopen`]). A single line longer than this still goes
    /// into one file.
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`path.1` is the newest); 0 deletes the full file.
    pub keep: usize,
    /// `fdatasync` after every batch (and before rotating and closing).
    pub fsync: bool,
    /// Lines that may wait for the writer thread before callers wait for room.
    pub queue: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_bytes: None,
            keep: 1,
            fsync: false,
            queue: 1024,
        }
    }
}

/// What went wrong with a JSON-lines file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JsonlError {
    /// The file could not be opened, written, synced or rotated.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The writer thread is gone (it could not start, or the writer was closed).
    #[error("{}: the log writer has stopped", .0.display())]
    Closed(PathBuf),
    /// A line must be one line.
    #[error("a JSON line must not contain a line break")]
    LineBreak,
}

type Reply = oneshot::Sender<Result<(), JsonlError>>;

enum Msg {
    Line {
        bytes: Vec<u8>,
        done: Option<Reply>,
    },
    Reopen(Reply),
    Close(Reply),
    /// Tests: hold the thread until the sender is dropped.
    #[cfg(test)]
    Stall(std::sync::mpsc::Receiver<()>),
}

/// A rotating JSON-lines file owned by its own thread. See the [module docs](self).
#[derive(Debug)]
pub struct JsonlWriter {
    path: Arc<Path>,
    tx: mpsc::Sender<Msg>,
}

/// Resolves when a submitted line is in the file (and synced with [`Options::fsync`]).
#[derive(Debug)]
#[must_use = "a submitted line is written either way; await this to know when and whether"]
pub struct Written {
    rx: oneshot::Receiver<Result<(), JsonlError>>,
    path: Arc<Path>,
}

impl Future for Written {
    type Output = Result<(), JsonlError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(JsonlError::Closed(self.path.to_path_buf()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl JsonlWriter {
    /// Opens (creates, appends to) `path`, creating its directory, and starts the thread.
    /// Does file I/O: call it at start-up or from a blocking context (it is quick).
    ///
    /// # Errors
    /// When the directory or the file cannot be created, or the thread cannot start.
    pub fn open(path: impl Into<PathBuf>, options: Options) -> Result<Self, JsonlError> {
        let path: PathBuf = path.into();
        let io = |e: std::io::Error| JsonlError::Io {
            path: path.clone(),
            source: Arc::new(e),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = open_append(&path).map_err(io)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let mut state = FileState {
            path: path.clone(),
            file: Some(file),
            size,
            options,
        };
        std::thread::Builder::new()
            .name("opshelf-jsonl".to_owned())
            .spawn(move || state.run(rx))
            .map_err(io)?;
        Ok(Self {
            path: path.into(),
            tx,
        })
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `line` (no trailing newline; one is added) and returns a handle that resolves
    /// when it is written. Waits only while the queue is full.
    ///
    /// # Errors
    /// `LineBreak` if the line holds a `\n`; `Closed` if the thread is gone.
    pub async fn submit(&self, line: impl Into<Vec<u8>>) -> Result<Written, JsonlError> {
        let (done, rx) = oneshot::channel();
        self.send_line(line.into(), Some(done)).await?;
        Ok(Written {
            rx,
            path: Arc::clone(&self.path),
        })
    }

    /// Writes `line` and waits until it is in the file (group-committed with the lines
    /// queued beside it).
    ///
    /// # Errors
    /// As [`submit`](Self::submit), and the write's own error.
    pub async fn write(&self, line: impl Into<Vec<u8>>) -> Result<(), JsonlError> {
        self.submit(line).await?.await
    }

    /// Queues `line` without waiting for the write (a failure is logged by the thread).
    /// Still waits for room when the queue is full, so nothing is dropped.
    ///
    /// # Errors
    /// `LineBreak`, or `Closed` if the thread is gone.
    pub async fn enqueue(&self, line: impl Into<Vec<u8>>) -> Result<(), JsonlError> {
        self.send_line(line.into(), None).await
    }

    /// Closes and reopens the path, after everything queued before it has been written to
    /// the old file: what logrotate's rename-then-`SIGHUP` needs.
    ///
    /// # Errors
    /// When the path cannot be opened (the thread keeps trying at the next batch).
    pub async fn reopen(&self) -> Result<(), JsonlError> {
        let (done, rx) = oneshot::channel();
        self.send(Msg::Reopen(done)).await?;
        self.wait(rx).await
    }

    /// Writes everything queued, syncs (with `fsync`), closes the file, stops the thread.
    ///
    /// # Errors
    /// The last write's or the sync's error.
    pub async fn close(self) -> Result<(), JsonlError> {
        let (done, rx) = oneshot::channel();
        self.send(Msg::Close(done)).await?;
        self.wait(rx).await
    }

    async fn send_line(&self, bytes: Vec<u8>, done: Option<Reply>) -> Result<(), JsonlError> {
        if bytes.contains(&b'\n') {
            return Err(JsonlError::LineBreak);
        }
        self.send(Msg::Line { bytes, done }).await
    }

    async fn send(&self, msg: Msg) -> Result<(), JsonlError> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| JsonlError::Closed(self.path.to_path_buf()))
    }

    async fn wait(&self, rx: oneshot::Receiver<Result<(), JsonlError>>) -> Result<(), JsonlError> {
        rx.await
            .unwrap_or_else(|_| Err(JsonlError::Closed(self.path.to_path_buf())))
    }

    #[cfg(test)]
    async fn stall(&self) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel();
        self.send(Msg::Stall(wait)).await.unwrap();
        release
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
}

/// `path.n`
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// The writer thread's side: the open file and its size.
struct FileState {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    options: Options,
}

/// One batch: the bytes, where each line ends in them, and who waits for them.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    ends: Vec<usize>,
    waiters: Vec<Reply>,
}

impl FileState {
    fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut batch = Batch::default();
        let limit = self.options.queue.max(1);
        while let Some(first) = rx.blocking_recv() {
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(msg) = next.take() {
                taken += 1;
                match msg {
                    Msg::Line { bytes, done } => {
                        batch.buf.extend_from_slice(&bytes);
                        batch.buf.push(b'\n');
                        batch.ends.push(batch.buf.len());
                        if let Some(d) = done {
                            batch.waiters.push(d);
                        }
                    }
                    Msg::Reopen(done) => {
                        self.commit(&mut batch);
                        let _ = done.send(self.reopen());
                    }
                    Msg::Close(done) => {
                        self.commit(&mut batch);
                        let _ = done.send(self.close());
                        return;
                    }
                    #[cfg(test)]
                    Msg::Stall(wait) => {
                        let _ = wait.recv();
                    }
                }
                if taken < limit {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut batch);
        }
        // Every writer is gone: the queue is drained, finish like `close`.
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "JSON-lines log: final sync failed");
        }
    }

    /// Writes the batch, answers its callers, empties it.
    fn commit(&mut self, batch: &mut Batch) {
        if batch.ends.is_empty() {
            return;
        }
        let result = self.write_batch(&batch.buf, &batch.ends);
        if let Err(e) = &result {
            tracing::error!(error = %e, lines = batch.ends.len(), "JSON-lines log write failed");
        }
        for w in batch.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
        batch.buf.clear();
        batch.ends.clear();
    }

    fn err(&self, e: std::io::Error) -> JsonlError {
        JsonlError::Io {
            path: self.path.clone(),
            source: Arc::new(e),
        }
    }

    /// Writes whole lines, rotating between two lines when the next would pass `max_bytes`.
    fn write_batch(&mut self, buf: &[u8], ends: &[usize]) -> Result<(), JsonlError> {
        let mut start = 0;
        let mut i = 0;
        while i < ends.len() {
            let mut j = i + 1;
            if let Some(max) = self.options.max_bytes {
                if self.size > 0 && self.size + (ends[i] - start) as u64 > max {
                    self.rotate();
                }
                // As many lines as fit (at least one).
                while j < ends.len() && self.size + (ends[j] - start) as u64 <= max {
                    j += 1;
                }
            } else {
                j = ends.len();
            }
            let end = ends[j - 1];
            self.write_chunk(&buf[start..end])?;
            start = end;
            i = j;
        }
        if self.options.fsync {
            self.sync()?;
        }
        Ok(())
    }

    /// One `write_all`; on failure reopen the path and retry once (as Vault's file sink).
    fn write_chunk(&mut self, chunk: &[u8]) -> Result<(), JsonlError> {
        if self.file.is_none() {
            self.reopen()?;
        }
        let first = match self.file.as_mut() {
            Some(f) => f.write_all(chunk),
            None => return Err(JsonlError::Closed(self.path.clone())),
        };
        if first.is_ok() {
            self.size += chunk.len() as u64;
            return Ok(());
        }
        self.reopen()?;
        match self.file.as_mut() {
            Some(f) => f.write_all(chunk).map_err(|e| self.err(e))?,
            None => return Err(JsonlError::Closed(self.path.clone())),
        }
        self.size += chunk.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), JsonlError> {
        match &self.file {
            Some(f) => f.sync_data().map_err(|e| self.err(e)),
            None => Ok(()),
        }
    }

    fn reopen(&mut self) -> Result<(), JsonlError> {
        if self.options.fsync {
            let _ = self.sync();
        }
        self.file = None;
        let file = open_append(&self.path).map_err(|e| self.err(e))?;
        self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.file = Some(file);
        Ok(())
    }

    fn close(&mut self) -> Result<(), JsonlError> {
        let synced = if self.options.fsync {
            self.sync()
        } else {
            Ok(())
        };
        self.file = None;
        synced
    }

    /// `path.N-1` → `path.N`, …, `path` → `path.1`, then a new `path`. A failed rename is
    /// logged and writing goes on in the same file (nothing is lost, it just grows).
    fn rotate(&mut self) {
        if self.options.fsync {
            let _ = self.sync();
        }
        self.file = None;
        let keep = self.options.keep;
        let moved = if keep == 0 {
            std::fs::remove_file(&self.path)
        } else {
            for n in (1..keep).rev() {
                let from = numbered(&self.path, n);
                if let Err(e) = std::fs::rename(&from, numbered(&self.path, n + 1))
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(error = %e, file = %from.display(), "JSON-lines log: rotation rename failed");
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))
        };
        if let Err(e) = moved {
            tracing::warn!(error = %e, file = %self.path.display(), "JSON-lines log: rotation failed; appending to the same file");
        }
        if let Err(e) = self.reopen() {
            tracing::error!(error = %e, "JSON-lines log: cannot open a new file after rotation");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("opshelf-jsonl-{}", crate::token::new_salt()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn lines_are_written_in_submission_order() {
        let d = dir();
        let w = JsonlWriter::open(d.join("sub/a.log"), Options::default()).unwrap();
        let mut pending = Vec::new();
        for i in 0..500 {
            pending.push(w.submit(format!("{{\"n\":{i}}}")).await.unwrap());
        }
        for p in pending {
            p.await.unwrap();
        }
        w.write("{\"n\":500}").await.unwrap();
        let got = lines(&d.join("sub/a.log"));
        let want: Vec<String> = (0..=500).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(got, want, "written and readable before close");
        assert!(matches!(
            w.write("two\nlines").await,
            Err(JsonlError::LineBreak)
        ));
        w.close().await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(d.join("sub/a.log"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_tasks_lose_nothing_and_keep_their_own_order() {
        let d = dir();
        let path = d.join("c.log");
        let w = Arc::new(
            JsonlWriter::open(
                &path,
                Options {
                    queue: 16,
                    fsync: true,
                    ..Options::default()
                },
            )
            .unwrap(),
        );
        let mut tasks = Vec::new();
        for t in 0..32 {
            let w = Arc::clone(&w);
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    let line = serde_json::json!({"task": t, "i": i}).to_string();
                    if i % 2 == 0 {
                        w.write(line).await.unwrap();
                    } else {
                        w.enqueue(line).await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        Arc::into_inner(w).unwrap().close().await.unwrap();
        let got = lines(&path);
        assert_eq!(got.len(), 3200);
        let mut next = [0u64; 32];
        for l in got {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            let t = usize::try_from(v["task"].as_u64().unwrap()).unwrap();
            assert_eq!(v["i"].as_u64().unwrap(), next[t], "task {t} out of order");
            next[t] += 1;
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn rotates_by_size_between_lines_and_keeps_n_files() {
        let d = dir();
        let path = d.join("r.log");
        let w = JsonlWriter::open(
            &path,
            Options {
                max_bytes: Some(100),
                keep: 2,
                ..Options::default()
            },
        )
        .unwrap();
        // 20 lines of 30 bytes (with the newline): three per file.
        let mut pending = Vec::new();
        for i in 0..20 {
            pending.push(
                w.submit(format!("{{\"line\":\"{i:0>18}\"}}"))
                    .await
                    .unwrap(),
            );
        }
        for p in pending {
            p.await.unwrap();
        }
        w.close().await.unwrap();
        let (cur, one, two) = (
            lines(&path),
            lines(&numbered(&path, 1)),
            lines(&numbered(&path, 2)),
        );
        assert!(!numbered(&path, 3).exists(), "only `keep` rotated files");
        for p in [path.clone(), numbered(&path, 1), numbered(&path, 2)] {
            assert!(
                std::fs::metadata(&p).unwrap().len() <= 100,
                "{}",
                p.display()
            );
        }
        let n = |l: &String| l[9..27].parse::<u32>().unwrap();
        let kept: Vec<u32> = two.iter().chain(&one).chain(&cur).map(n).collect();
        assert_eq!(
            kept,
            (20 - kept.len() as u32..20).collect::<Vec<_>>(),
            "newest last"
        );
        assert_eq!(cur.len(), 2);
        assert_eq!((one.len(), two.len()), (3, 3));
        // One line bigger than max_bytes still goes whole into one file.
        let w = JsonlWriter::open(
            &path,
            Options {
                max_bytes: Some(10),
                keep: 0,
                ..Options::default()
            },
        )
        .unwrap();
        w.write("a-line-longer-than-ten-bytes").await.unwrap();
        w.write("x").await.unwrap();
        w.close().await.unwrap();
        assert_eq!(lines(&path), ["x"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test]
    async fn reopen_after_rename_starts_a_new_file() {
        let d = dir();
        let path = d.join("audit.log");
        let w = JsonlWriter::open(&path, Options::default()).unwrap();
        w.write("a").await.unwrap();
        std::fs::rename(&path, d.join("audit.log.old")).unwrap();
        w.write("b").await.unwrap(); // still the renamed file, as with any open descriptor
        w.enqueue("c").await.unwrap(); // queued before the reopen: goes to the old file
        w.reopen().await.unwrap();
        w.write("d").await.unwrap();
        drop(w); // the thread writes what is left and closes on its own
        assert_eq!(lines(&d.join("audit.log.old")), ["a", "b", "c"]);
        assert_eq!(lines(&path), ["d"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_makes_callers_wait_and_loses_nothing() {
        let d = dir();
        let path = d.join("bp.log");
        let w = Arc::new(
            JsonlWriter::open(
                &path,
                Options {
                    queue: 4,
                    ..Options::default()
                },
            )
            .unwrap(),
        );
        let release = w.stall().await;
        let producer = {
            let w = Arc::clone(&w);
            tokio::spawn(async move {
                for i in 0..100 {
                    w.enqueue(format!("{i}")).await.unwrap();
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!producer.is_finished(), "the producer waits for room");
        assert_eq!(lines(&path).len(), 0);
        drop(release);
        tokio::time::timeout(Duration::from_secs(10), producer)
            .await
            .unwrap()
            .unwrap();
        Arc::into_inner(w).unwrap().close().await.unwrap();
        let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        assert_eq!(lines(&path), want);
        let _ = std::fs::remove_dir_all(d);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn write_errors_reach_the_caller() {
        // /dev/full: every write fails with ENOSPC, the retry after reopening too.
        let w = JsonlWriter::open("/dev/full", Options::default()).unwrap();
        let e = w.write("x").await.unwrap_err();
        assert!(matches!(e, JsonlError::Io { .. }), "{e}");
        assert!(e.to_string().starts_with("/dev/full: "), "{e}");
        w.close().await.unwrap();
        let d = dir();
        let e = JsonlWriter::open(&d, Options::default()).unwrap_err();
        assert!(
            matches!(e, JsonlError::Io { .. }),
            "a directory is not a log file: {e}"
        );
        let _ = std::fs::remove_dir_all(d);
    }
}
