//! The positions file: per tailed path, its inode and the offset after the last line whose
//! entry is durable, and the append in flight (if any). Written to a temporary file, fsynced,
//! renamed, directory fsynced.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    /// The offset the position moves to once the append is known to be durable.
    pub end_offset: u64,
    /// The append's last entry: its stream, time and line hash.
    pub labels: Vec<(String, String)>,
    pub ts_ns: i64,
    pub line_hash: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct FilePos {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The last entry time used for this file (times are kept strictly increasing).
    #[serde(default)]
    pub last_ts_ns: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Positions {
    #[serde(skip)]
    path: PathBuf,
    pub files: BTreeMap<String, FilePos>,
}

impl Positions {
    /// Read `path` (a missing file is empty positions).
    ///
    /// # Errors
    /// An unreadable or corrupt file (never silently reset: that would repeat every line).
    pub fn load(path: &Path) -> Result<Self, String> {
        let mut p = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice::<Positions>(&b)
                .map_err(|e| format!("positions file {}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Positions::default(),
            Err(e) => return Err(format!("positions file {}: {e}", path.display())),
        };
        p.path = path.to_owned();
        Ok(p)
    }

    /// Durably replace the file.
    ///
    /// # Errors
    /// I/O failures.
    pub fn save(&self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_a_corrupt_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("p.json");
        let mut p = Positions::load(&path).unwrap();
        p.files.insert(
            "/x".into(),
            FilePos {
                dev: 1,
                ino: 2,
                offset: 3,
                pending: None,
                last_ts_ns: 4,
            },
        );
        p.save().unwrap();
        assert_eq!(Positions::load(&path).unwrap().files["/x"].offset, 3);
        std::fs::write(&path, b"{").unwrap();
        assert!(Positions::load(&path).is_err());
    }
}
