//! Where blocks live: the `BlockStore` trait and its local-directory implementation.
//!
//! The engine keeps its own in-memory index of block summaries (`BlockMeta`) and asks the
//! store only to load them at open, to write, open and remove a block, and to remember which
//! WAL generation has been flushed. An object-storage store with a PostgreSQL index is
//! another implementation of this trait (see the crate docs).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::block::{self, Block, BlockSource, BlockWrite};
use crate::error::{Error, Result, corrupt, io};
use crate::wal::sync_dir;

pub trait BlockStore: Send + Sync {
    /// Every committed block. A block that fails to decode is set aside (not deleted) with a
    /// warning, so one bad file never stops the store from opening.
    fn load(&self) -> Result<Vec<Block>>;
    /// A writer for a new block; nothing is visible until `commit`, which is durable.
    fn create(&self, id: u64) -> Result<Box<dyn BlockWrite>>;
    fn open(&self, id: u64) -> Result<Arc<dyn BlockSource>>;
    /// Deletes a block; readers that already opened it keep reading it.
    fn remove(&self, id: u64) -> Result<()>;
    /// The newest WAL generation whose records are all in committed blocks.
    fn flushed_gen(&self) -> Result<u64>;
    fn set_flushed_gen(&self, gen_: u64) -> Result<()>;
}

/// `<data_dir>/blocks/<id:016x>.blk`, written as `.<id>.tmp`, fsynced, renamed, directory
/// fsynced; the flushed generation in `<data_dir>/flushed` (8 bytes + CRC32, same dance).
pub struct LocalDir {
    root: PathBuf,
    blocks: PathBuf,
}

impl LocalDir {
    pub fn new(root: &Path) -> Result<Self> {
        let blocks = root.join("blocks");
        std::fs::create_dir_all(&blocks).map_err(io(&blocks))?;
        Ok(LocalDir {
            root: root.to_owned(),
            blocks,
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.blocks.join(format!("{id:016x}.blk"))
    }
}

struct LocalWrite {
    tmp: PathBuf,
    dst: PathBuf,
    dir: PathBuf,
    w: BufWriter<File>,
}

impl BlockWrite for LocalWrite {
    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.w.write_all(bytes).map_err(io(&self.tmp))
    }

    fn commit(self: Box<Self>) -> Result<()> {
        let LocalWrite { tmp, dst, dir, w } = *self;
        let f = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        sync_dir(&dir)
    }

    fn abort(self: Box<Self>) {
        let LocalWrite { tmp, w, .. } = *self;
        // the buffered bytes are dropped unwritten
        let (f, _) = w.into_parts();
        drop(f);
        if let Err(e) = std::fs::remove_file(&tmp) {
            tracing::warn!(path = %tmp.display(), error = %e, "event store: abandoned block not removed");
        }
    }
}

impl BlockStore for LocalDir {
    fn load(&self) -> Result<Vec<Block>> {
        let mut out = Vec::new();
        let rd = std::fs::read_dir(&self.blocks).map_err(io(&self.blocks))?;
        for e in rd {
            let e = e.map_err(io(&self.blocks))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(".tmp") {
                // a block whose writer died before commit; its records are still in the WAL
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(id) = name
                .strip_suffix(".blk")
                .and_then(|s| u64::from_str_radix(s, 16).ok())
            else {
                continue;
            };
            let src = self.open(id)?;
            match block::read_meta(src.as_ref()) {
                Ok(meta) if meta.id == id => out.push(Block::new(meta, src)),
                Ok(_) | Err(Error::Corrupt { .. }) => {
                    let aside = e.path().with_extension("corrupt");
                    tracing::warn!(path = %e.path().display(), "event store: unreadable block set aside");
                    std::fs::rename(e.path(), &aside).map_err(io(&aside))?;
                }
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    fn create(&self, id: u64) -> Result<Box<dyn BlockWrite>> {
        let tmp = self.blocks.join(format!(".{id:016x}.tmp"));
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        Ok(Box::new(LocalWrite {
            tmp,
            dst: self.path(id),
            dir: self.blocks.clone(),
            w: BufWriter::with_capacity(1 << 20, f),
        }))
    }

    fn open(&self, id: u64) -> Result<Arc<dyn BlockSource>> {
        let p = self.path(id);
        let f = File::open(&p).map_err(io(&p))?;
        Ok(Arc::new(f))
    }

    fn remove(&self, id: u64) -> Result<()> {
        let p = self.path(id);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&p)(e)),
        }
    }

    fn flushed_gen(&self) -> Result<u64> {
        let p = self.root.join("flushed");
        let b = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&p)(e)),
        };
        if b.len() != 12 || crc32fast::hash(&b[..8]).to_le_bytes() != b[8..12] {
            return Err(corrupt("flushed-generation marker"));
        }
        let mut g = [0u8; 8];
        g.copy_from_slice(&b[..8]);
        Ok(u64::from_le_bytes(g))
    }

    fn set_flushed_gen(&self, gen_: u64) -> Result<()> {
        let tmp = self.root.join("flushed.tmp");
        let dst = self.root.join("flushed");
        let mut b = gen_.to_le_bytes().to_vec();
        b.extend_from_slice(&crc32fast::hash(&b).to_le_bytes());
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&b).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        sync_dir(&self.root)
    }
}
