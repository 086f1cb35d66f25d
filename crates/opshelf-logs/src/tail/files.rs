//! The tailer: glob expansion, per-file reading, rotation, Docker lines, multiline, batching
//! into appends with the positions protocol of `mod.rs`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opshelf_eventstore as es;

use super::pipeline::{Multiline, Pipeline};
use super::positions::{Pending, Positions};
use crate::config::TailConfig;
use crate::logql_adapter::Labels;
use crate::now_ns;
use crate::push::{Entry, PushStream};
use crate::store::{LogStore, StoreError};

/// Bytes read from one file per read call.
const READ_CHUNK: usize = 256 * 1024;

struct Target {
    patterns: Vec<globset::GlobMatcher>,
    raw: Vec<String>,
    labels: BTreeMap<String, String>,
    docker: bool,
    pipeline: Pipeline,
}

struct Open {
    /// The path positions are kept under and the `filename` label.
    key: String,
    target: usize,
    file: File,
    dev: u64,
    ino: u64,
    /// Where the next read starts.
    read_off: u64,
    /// After the last line whose entry is durable (or dropped).
    commit_off: u64,
    partial: Vec<u8>,
    skipping: bool,
    docker_partial: String,
    /// Multiline: the joined lines, how many, since when, its end offset.
    group: Option<(String, usize, Instant, u64)>,
    container: Option<String>,
    /// A rotated-away file read to its end, then forgotten.
    draining: bool,
}

/// One line ready for the pipeline, with the offset after it.
struct Raw {
    line: String,
    ts_ns: Option<i64>,
    stream: Option<String>,
    end_off: u64,
}

pub struct Tailer {
    targets: Vec<Target>,
    open: Vec<Open>,
    positions: Positions,
    tenant: String,
    store: Arc<LogStore>,
    rt: tokio::runtime::Handle,
    batch_lines: usize,
}

fn hash(line: &str) -> u64 {
    // FNV-1a: stable across versions (it is persisted in the positions file)
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in line.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Tailer {
    /// # Errors
    /// A target whose globs or stages do not compile; an unreadable positions file.
    pub fn new(
        cfg: &TailConfig,
        positions: &Path,
        tenant: String,
        store: Arc<LogStore>,
        rt: tokio::runtime::Handle,
    ) -> Result<Self, String> {
        let mut targets = Vec::new();
        for t in &cfg.targets {
            let mut patterns = Vec::new();
            for p in &t.paths {
                let g = globset::GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| format!("glob {p:?}: {e}"))?;
                patterns.push(g.compile_matcher());
            }
            targets.push(Target {
                patterns,
                raw: t.paths.clone(),
                labels: t.labels.clone(),
                docker: t.docker,
                pipeline: Pipeline::new(&t.pipeline)?,
            });
        }
        Ok(Self {
            targets,
            open: Vec::new(),
            positions: Positions::load(positions)?,
            tenant,
            store,
            rt,
            batch_lines: cfg.batch_lines,
        })
    }

    /// Settle pending appends left by a crash: durable → move past them; not → read again.
    pub fn recover(&mut self) {
        let keys: Vec<String> = self.positions.files.keys().cloned().collect();
        let mut changed = false;
        for k in keys {
            let Some(pos) = self.positions.files.get(&k).cloned() else {
                continue;
            };
            let Some(p) = pos.pending else {
                continue;
            };
            let done = self.appended(&p);
            let e = self.positions.files.entry(k).or_default();
            if done {
                e.offset = p.end_offset;
                e.last_ts_ns = e.last_ts_ns.max(p.ts_ns);
            }
            e.pending = None;
            changed = true;
        }
        if changed && let Err(e) = self.positions.save() {
            tracing::error!(error = %e, "cannot save tail positions");
        }
    }

    fn appended(&self, p: &Pending) -> bool {
        let q = es::Query {
            tenant: self.tenant.clone(),
            from_ns: p.ts_ns,
            to_ns: p.ts_ns.saturating_add(1),
            matchers: p
                .labels
                .iter()
                .map(|(k, v)| es::Matcher::eq(k.clone(), v.clone()))
                .collect(),
            direction: es::Direction::Forward,
            limit: 0,
            needle: None,
            contains: None,
        };
        let Ok(it) = self.store.events().query(q) else {
            return false;
        };
        for h in it.flatten() {
            if h.labels.len() == p.labels.len()
                && hash(&String::from_utf8_lossy(&h.record.body)) == p.line_hash
            {
                return true;
            }
        }
        false
    }

    /// One round: discover files, notice rotations, read and ship what is new.
    pub fn poll_once(&mut self) {
        self.discover();
        let mut i = 0;
        while i < self.open.len() {
            self.check_rotation(i);
            self.read_file(i);
            if self.open[i].draining {
                self.open.remove(i);
            } else {
                i += 1;
            }
        }
    }

    fn discover(&mut self) {
        let mut found: Vec<(String, usize)> = Vec::new();
        for (ti, t) in self.targets.iter().enumerate() {
            for (pi, raw) in t.raw.iter().enumerate() {
                for p in expand(raw, &t.patterns[pi]) {
                    let k = p.to_string_lossy().into_owned();
                    if !found.iter().any(|(x, _)| *x == k) {
                        found.push((k, ti));
                    }
                }
            }
        }
        for (key, ti) in found {
            if self.open.iter().any(|o| o.key == key && !o.draining) {
                continue;
            }
            let Ok(file) = File::open(&key) else { continue };
            let Ok(meta) = file.metadata() else { continue };
            let saved = self.positions.files.get(&key).cloned();
            let mut offset = 0;
            if let Some(pos) = &saved {
                if pos.ino == meta.ino() && pos.dev == meta.dev() {
                    offset = if meta.len() < pos.offset {
                        0
                    } else {
                        pos.offset
                    };
                } else if let Some(old) = find_inode(Path::new(&key), pos.dev, pos.ino) {
                    // rotated while we were down: finish the old file first
                    if let Ok(of) = File::open(&old) {
                        let container = self.container_of(ti, &key);
                        self.open.push(Open {
                            key: key.clone(),
                            target: ti,
                            file: of,
                            dev: pos.dev,
                            ino: pos.ino,
                            read_off: pos.offset,
                            commit_off: pos.offset,
                            partial: Vec::new(),
                            skipping: false,
                            docker_partial: String::new(),
                            group: None,
                            container,
                            draining: true,
                        });
                    }
                }
            }
            let container = self.container_of(ti, &key);
            self.open.push(Open {
                key,
                target: ti,
                file,
                dev: meta.dev(),
                ino: meta.ino(),
                read_off: offset,
                commit_off: offset,
                partial: Vec::new(),
                skipping: false,
                docker_partial: String::new(),
                group: None,
                container,
                draining: false,
            });
        }
    }

    fn container_of(&self, ti: usize, key: &str) -> Option<String> {
        if !self.targets[ti].docker {
            return None;
        }
        let cfg = Path::new(key).parent()?.join("config.v2.json");
        let mut s = String::new();
        File::open(cfg)
            .ok()?
            .take(4 << 20)
            .read_to_string(&mut s)
            .ok()?;
        let v: serde_json::Value = serde_json::from_str(&s).ok()?;
        let name = v.get("Name")?.as_str()?;
        Some(name.trim_start_matches('/').to_owned())
    }

    /// Rename + create: keep the old handle (read to its end, then drop); copytruncate: the
    /// file shrank below our offset → read again from 0.
    fn check_rotation(&mut self, i: usize) {
        let o = &self.open[i];
        if o.draining {
            return;
        }
        let Ok(meta) = std::fs::metadata(&o.key) else {
            return; // gone for now: keep reading the open handle
        };
        if meta.ino() != o.ino || meta.dev() != o.dev {
            let Ok(file) = File::open(&o.key) else { return };
            let container = self.container_of(o.target, &o.key);
            let new = Open {
                key: o.key.clone(),
                target: o.target,
                file,
                dev: meta.dev(),
                ino: meta.ino(),
                read_off: 0,
                commit_off: 0,
                partial: Vec::new(),
                skipping: false,
                docker_partial: String::new(),
                group: None,
                container,
                draining: false,
            };
            self.open[i].draining = true;
            self.open.insert(i + 1, new);
        } else if meta.len() < o.read_off {
            let o = &mut self.open[i];
            o.read_off = 0;
            o.commit_off = 0;
            o.partial.clear();
            o.group = None;
            o.docker_partial.clear();
        }
    }

    fn read_file(&mut self, i: usize) {
        loop {
            let mut raws = Vec::new();
            let eof = self.read_lines(i, &mut raws);
            let flush_group = eof;
            let entries = self.build(i, raws, flush_group);
            if !self.ship(i, &entries) {
                return;
            }
            if eof {
                return;
            }
        }
    }

    /// Read up to `batch_lines` complete lines; `true` at the end of the file.
    fn read_lines(&mut self, i: usize, out: &mut Vec<Raw>) -> bool {
        let max_line = self.store.limits().max_line_size;
        let docker = self.targets[self.open[i].target].docker;
        let o = &mut self.open[i];
        let mut buf = vec![0u8; READ_CHUNK];
        while out.len() < self.batch_lines {
            if o.file.seek(SeekFrom::Start(o.read_off)).is_err() {
                return true;
            }
            let n = match o.file.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(n) => n,
            };
            let mut start = 0;
            let base = o.read_off;
            let mut consumed = 0;
            for (j, &b) in buf[..n].iter().enumerate() {
                if b != b'\n' {
                    continue;
                }
                let end_off = base + j as u64 + 1;
                let mut line = std::mem::take(&mut o.partial);
                if !o.skipping {
                    line.extend_from_slice(&buf[start..j]);
                }
                o.skipping = false;
                start = j + 1;
                consumed = j + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                if docker {
                    if let Some(r) = docker_line(&text, &mut o.docker_partial, end_off) {
                        out.push(r);
                    }
                } else {
                    out.push(Raw {
                        line: text,
                        ts_ns: None,
                        stream: None,
                        end_off,
                    });
                }
                if out.len() >= self.batch_lines {
                    break;
                }
            }
            if consumed == 0 || out.len() < self.batch_lines {
                // the rest of the chunk is an incomplete line
                let rest = &buf[start..n];
                if !o.skipping {
                    if o.partial.len() + rest.len() > max_line {
                        let keep = max_line.saturating_sub(o.partial.len());
                        o.partial.extend_from_slice(&rest[..keep.min(rest.len())]);
                        o.skipping = true;
                    } else {
                        o.partial.extend_from_slice(rest);
                    }
                }
                o.read_off = base + n as u64;
            } else {
                o.read_off = base + consumed as u64;
            }
        }
        false
    }

    /// Multiline grouping, pipeline stages, labels, times.
    fn build(
        &mut self,
        i: usize,
        raws: Vec<Raw>,
        flush: bool,
    ) -> Vec<(Option<Entry>, Labels, u64)> {
        let o = &mut self.open[i];
        let t = &self.targets[o.target];
        let mut lines: Vec<Raw> = Vec::new();
        if let Some(m) = &t.pipeline.multiline {
            for r in raws {
                group_line(o, m, r, &mut lines);
            }
            if let Some((_, _, since, _)) = &o.group
                && (flush && since.elapsed() >= Duration::from_millis(m.max_wait_ms))
            {
                emit_group(o, &mut lines);
            }
        } else {
            lines = raws;
        }
        let pos = self.positions.files.entry(o.key.clone()).or_default();
        let max_line = self.store.limits().max_line_size;
        let mut out = Vec::with_capacity(lines.len());
        for r in lines {
            let mut labels: Vec<(String, String)> = t
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels.push(("filename".to_owned(), o.key.clone()));
            if let Some(c) = &o.container {
                labels.push(("container".to_owned(), c.clone()));
            }
            if let Some(s) = &r.stream {
                labels.push(("stream".to_owned(), s.clone()));
            }
            let ts = r.ts_ns.unwrap_or_else(|| now_ns().max(pos.last_ts_ns + 1));
            let Some(p) = t.pipeline.process(r.line, ts) else {
                out.push((None, Labels::default(), r.end_off));
                continue;
            };
            labels.extend(p.labels);
            if r.ts_ns.is_none() {
                pos.last_ts_ns = pos.last_ts_ns.max(p.ts_ns);
            }
            let mut line = p.line;
            if line.len() > max_line {
                let mut cut = max_line;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
            }
            out.push((
                Some(Entry {
                    ts_ns: p.ts_ns,
                    line,
                    metadata: Vec::new(),
                }),
                Labels::new(labels),
                r.end_off,
            ));
        }
        out
    }

    /// Append runs of consecutive same-stream entries, each under the pending protocol.
    /// `false` when the store refused for now (the same lines are read again next poll).
    fn ship(&mut self, i: usize, entries: &[(Option<Entry>, Labels, u64)]) -> bool {
        let key = self.open[i].key.clone();
        let (dev, ino) = (self.open[i].dev, self.open[i].ino);
        let mut idx = 0;
        while idx < entries.len() {
            let (first, labels, _) = &entries[idx];
            if first.is_none() {
                self.open[i].commit_off = entries[idx].2;
                idx += 1;
                continue;
            }
            let mut run = Vec::new();
            let mut end = idx;
            while end < entries.len()
                && let (Some(e), l, _) = &entries[end]
                && l == labels
            {
                run.push(e.clone());
                end += 1;
            }
            let end_off = entries[end - 1].2;
            let last = run.last().cloned();
            let Some(last) = last else { break };
            {
                let pos = self.positions.files.entry(key.clone()).or_default();
                pos.dev = dev;
                pos.ino = ino;
                pos.offset = self.open[i].commit_off;
                pos.pending = Some(Pending {
                    end_offset: end_off,
                    labels: labels
                        .iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    ts_ns: last.ts_ns,
                    line_hash: hash(&last.line),
                });
            }
            if let Err(e) = self.positions.save() {
                tracing::error!(error = %e, "cannot save tail positions");
                return self.rewind(i);
            }
            let stream = PushStream {
                labels: labels.clone(),
                entries: run,
            };
            let r = self
                .rt
                .block_on(self.store.push(&self.tenant, vec![stream]));
            match r {
                Ok(_) => {}
                Err(StoreError::Push(e)) => {
                    // a limit refused these lines, or the ones outside the time window (the
                    // rest are stored): Promtail drops a 4xx batch, so do we
                    tracing::warn!(file = %key, error = %e, "tailed lines refused");
                }
                Err(e) => {
                    tracing::warn!(file = %key, error = %e, "tailed lines not stored; retrying");
                    if let Some(p) = self.positions.files.get_mut(&key) {
                        p.pending = None;
                    }
                    let _ = self.positions.save();
                    return self.rewind(i);
                }
            }
            self.open[i].commit_off = end_off;
            let pos = self.positions.files.entry(key.clone()).or_default();
            pos.offset = end_off;
            pos.pending = None;
            if let Err(e) = self.positions.save() {
                tracing::error!(error = %e, "cannot save tail positions");
            }
            idx = end;
        }
        let o = &self.open[i];
        let pos = self.positions.files.entry(key).or_default();
        if pos.offset != o.commit_off || pos.ino != o.ino {
            pos.dev = o.dev;
            pos.ino = o.ino;
            pos.offset = o.commit_off;
            let _ = self.positions.save();
        }
        true
    }

    /// Forget what was read past the durable position; it is read again next poll.
    fn rewind(&mut self, i: usize) -> bool {
        let o = &mut self.open[i];
        o.read_off = o.commit_off;
        o.partial.clear();
        o.skipping = false;
        o.group = None;
        o.docker_partial.clear();
        false
    }
}

fn group_line(o: &mut Open, m: &Multiline, r: Raw, out: &mut Vec<Raw>) {
    let first = m.firstline.is_match(&r.line);
    match &mut o.group {
        Some((text, n, _, end)) if !first && *n < m.max_lines => {
            text.push('\n');
            text.push_str(&r.line);
            *n += 1;
            *end = r.end_off;
        }
        _ => {
            emit_group(o, out);
            o.group = Some((r.line, 1, Instant::now(), r.end_off));
        }
    }
}

fn emit_group(o: &mut Open, out: &mut Vec<Raw>) {
    if let Some((line, _, _, end_off)) = o.group.take() {
        out.push(Raw {
            line,
            ts_ns: None,
            stream: None,
            end_off,
        });
    }
}

/// A Docker json-file line; partial lines (no trailing newline in `log`) are joined.
fn docker_line(text: &str, partial: &mut String, end_off: u64) -> Option<Raw> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let log = v.get("log")?.as_str()?;
    let stream = v.get("stream").and_then(|s| s.as_str()).map(str::to_owned);
    let ts = v
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos()).ok());
    partial.push_str(log);
    if !partial.ends_with('\n') {
        return None;
    }
    let mut line = std::mem::take(partial);
    line.pop();
    if line.ends_with('\r') {
        line.pop();
    }
    Some(Raw {
        line,
        ts_ns: ts,
        stream,
        end_off,
    })
}

/// Files matching `pattern`, found by walking from its longest literal directory prefix.
fn expand(pattern: &str, m: &globset::GlobMatcher) -> Vec<PathBuf> {
    let meta = |c: &str| c.contains(['*', '?', '[', '{']);
    let comps: Vec<&str> = pattern.split('/').collect();
    let lit = comps.iter().take_while(|c| !meta(c)).count();
    if lit == comps.len() {
        let p = PathBuf::from(pattern);
        return if p.is_file() { vec![p] } else { Vec::new() };
    }
    let base: String = comps[..lit].join("/");
    let base = if base.is_empty() {
        "/".to_owned()
    } else {
        base
    };
    let depth = if pattern.contains("**") {
        16
    } else {
        comps.len() - lit
    };
    let mut out = Vec::new();
    walk(Path::new(&base), depth, m, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, depth: usize, m: &globset::GlobMatcher, out: &mut Vec<PathBuf>) {
    if depth == 0 || out.len() > 10_000 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&p, depth - 1, m, out);
        } else if (ft.is_file() || ft.is_symlink()) && m.is_match(&p) {
            out.push(p);
        }
    }
}

/// A file in `path`'s directory with this inode (where a rotation moved it).
fn find_inode(path: &Path, dev: u64, ino: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(md) = e.metadata()
            && md.ino() == ino
            && md.dev() == dev
            && md.is_file()
        {
            return Some(e.path());
        }
    }
    None
}
