//! One layer: a (possibly gzip- or zstd-compressed) tar stream walked entry by entry, never
//! extracted. Paths are normalised lexically inside the image root (a `../` that would leave
//! it skips the entry with a warning); symlinks are recorded, never followed; hardlinks may
//! only name paths inside the root. Inflated bytes are capped (read through `take(limit + 1)`),
//! and only the entries an analyzer wants are read, each up to its own cap — a 10 GB sparse
//! file or a zero-filled bomb costs nothing beyond the stream it occupies.

use std::cell::Cell;
use std::io::{self, Read};

use super::ImageError;

/// Caps on what a layer may make the scanner read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Inflated bytes of all layers together (tar headers and data).
    pub max_image_bytes: u64,
    /// Files larger than this are not read for secrets or metadata (bytes).
    pub max_file_bytes: u64,
    /// Executables and archives (Go/Rust binaries, JARs) are read up to this size.
    pub max_binary_bytes: u64,
    /// Entries per image (tar headers), against archives of millions of empty files.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_bytes: 16 << 30,
            max_file_bytes: 10 << 20,
            max_binary_bytes: 128 << 20,
            max_entries: 2_000_000,
        }
    }
}

/// What a layer entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
    /// A hardlink to another path of the image (normalised, inside the root).
    Hardlink(String),
    /// `.wh.<name>`: the path (normalised) is deleted from the layers below.
    Whiteout,
    /// `.wh..wh..opq`: the directory's contents from the layers below are hidden.
    Opaque,
    Other,
}

/// One entry, handed to the caller; `read` returns its content when asked for.
pub struct Entry<'a> {
    /// Normalised path without a leading `/` (`etc/os-release`); the directory for
    /// [`EntryKind::Whiteout`] targets is part of it, for [`EntryKind::Opaque`] it is the dir.
    pub path: String,
    pub kind: EntryKind,
    /// Size in the header (for sparse files: the apparent size).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    reader: &'a mut dyn Read,
}

impl Entry<'_> {
    /// Reads the content, or `None` when it is larger than `cap` (the rest stays unread).
    pub fn read(&mut self, cap: u64) -> io::Result<Option<Vec<u8>>> {
        if self.size > cap {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(usize::try_from(self.size.min(1 << 20)).unwrap_or(0));
        self.reader
            .take(cap.saturating_add(1))
            .read_to_end(&mut buf)?;
        if buf.len() as u64 > cap {
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// The first bytes (up to `n`) without consuming more than that.
    pub fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(n);
        self.reader.take(n as u64).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

/// Counts inflated bytes across every layer and fails once the cap is passed.
pub struct Budget {
    pub used: Cell<u64>,
    pub limit: u64,
    pub entries: Cell<u64>,
    pub max_entries: u64,
}

impl Budget {
    pub fn new(limits: &Limits) -> Self {
        Budget {
            used: Cell::new(0),
            limit: limits.max_image_bytes,
            entries: Cell::new(0),
            max_entries: limits.max_entries,
        }
    }
}

struct Capped<'b, R> {
    inner: R,
    budget: &'b Budget,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.budget.used.get();
        let room = self.budget.limit.saturating_sub(used).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        let used = used + n as u64;
        self.budget.used.set(used);
        if used > self.budget.limit {
            return Err(io::Error::other(format!(
                "layers inflate to more than {} bytes (the image limit)",
                self.budget.limit
            )));
        }
        Ok(n)
    }
}

/// Compression of a layer blob, from its first bytes.
fn decompressor<'r>(mut raw: Box<dyn Read + 'r>) -> io::Result<Box<dyn Read + 'r>> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        let n = raw.read(&mut magic[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let joined: Box<dyn Read + 'r> = Box::new(head.chain(raw));
    if got >= 2 && magic[..2] == [0x1f, 0x8b] {
        return Ok(Box::new(flate2::read::MultiGzDecoder::new(joined)));
    }
    if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        return Ok(Box::new(zstd::stream::read::Decoder::new(joined)?));
    }
    Ok(joined)
}

/// Lexically normalises a tar path inside the root: `None` when `..` would leave it.
pub fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Walks one layer blob, calling `f` for each entry in order.
pub fn walk(
    raw: Box<dyn Read + '_>,
    budget: &Budget,
    warnings: &mut Vec<String>,
    layer_name: &str,
    f: &mut dyn FnMut(Entry<'_>) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let layer_err = |e: io::Error| ImageError::Layer {
        layer: layer_name.to_string(),
        message: e.to_string(),
    };
    let inflated = decompressor(raw).map_err(layer_err)?;
    let capped = Capped {
        inner: inflated,
        budget,
    };
    let mut archive = tar::Archive::new(capped);
    let entries = archive.entries().map_err(layer_err)?;
    for entry in entries {
        let mut entry = entry.map_err(layer_err)?;
        budget.entries.set(budget.entries.get() + 1);
        if budget.entries.get() > budget.max_entries {
            return Err(ImageError::Layer {
                layer: layer_name.to_string(),
                message: format!("more than {} entries in the image", budget.max_entries),
            });
        }
        let header = entry.header();
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = normalize(&raw_path) else {
            warnings.push(format!(
                "{layer_name}: skipped {raw_path:?}: the path leaves the image root"
            ));
            continue;
        };
        let etype = header.entry_type();
        let size = entry.size();
        let mode = header.mode().unwrap_or(0);
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), path.clone()),
        };
        let (path, kind) = if base == ".wh..wh..opq" {
            (dir, EntryKind::Opaque)
        } else if let Some(name) = base.strip_prefix(".wh.") {
            if name.is_empty() {
                continue;
            }
            let target = if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            };
            (target, EntryKind::Whiteout)
        } else if path.is_empty() {
            continue;
        } else {
            let kind = match etype {
                tar::EntryType::Regular
                | tar::EntryType::Continuous
                | tar::EntryType::GNUSparse => EntryKind::File,
                tar::EntryType::Directory => EntryKind::Dir,
                tar::EntryType::Symlink => EntryKind::Symlink(
                    entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default(),
                ),
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    match normalize(&target) {
                        Some(t) if !t.is_empty() => EntryKind::Hardlink(t),
                        _ => {
                            warnings.push(format!(
                                "{layer_name}: skipped hardlink {path:?} -> {target:?}: the target leaves the image root"
                            ));
                            continue;
                        }
                    }
                }
                // PAX/GNU long-name headers are consumed by the tar crate
                _ => EntryKind::Other,
            };
            (path, kind)
        };
        f(Entry {
            path,
            kind,
            size,
            mode,
            reader: &mut entry,
        })?;
    }
    // the rest of the stream (tar padding, a trailing gzip member) is not needed
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_stays_inside() {
        assert_eq!(
            normalize("./etc/../etc/passwd").as_deref(),
            Some("etc/passwd")
        );
        assert_eq!(normalize("/abs/path/").as_deref(), Some("abs/path"));
        assert_eq!(normalize("a/../../etc/shadow"), None);
        assert_eq!(normalize("..").as_deref(), None);
        assert_eq!(normalize("./").as_deref(), Some(""));
    }
}
