//! Image containers: a `docker save` archive (`manifest.json` + config + layer tars) or an OCI
//! image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as a directory or a tar.
//! Names taken from manifests are untrusted: they must be plain relative paths (or
//! `sha256:<hex>` digests) inside the archive; nothing outside it is ever opened.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImageError;
use super::layer::normalize;

/// Manifests and configs are small; a bigger one is not an image.
const MAX_JSON_BYTES: u64 = 16 << 20;

/// Where the archive's files are.
enum Store {
    Dir(PathBuf),
    /// An uncompressed tar: entry name -> (data offset, size); symlinks -> target.
    Tar {
        path: PathBuf,
        files: HashMap<String, (u64, u64)>,
        links: HashMap<String, String>,
    },
}

/// One layer to read, in order.
#[derive(Debug, Clone)]
pub struct LayerRef {
    /// File inside the archive.
    pub name: String,
    /// Blob digest when the manifest names one (OCI), else empty.
    pub digest: String,
    /// Uncompressed digest from the config's `rootfs.diff_ids`.
    pub diff_id: String,
}

/// A parsed image: config, layers, tags.
pub struct Image {
    store: Store,
    pub config: Value,
    /// `sha256:` of the config blob (Trivy's `ImageID`).
    pub image_id: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<LayerRef>,
}

fn err(path: &Path, message: impl Into<String>) -> ImageError {
    ImageError::Archive {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// A relative name inside the archive (`blobs/sha256/ab..`, `abc/layer.tar`), never `..`.
fn safe_name(name: &str) -> Option<String> {
    if name.starts_with('/') || name.split('/').any(|c| c == "..") {
        return None;
    }
    normalize(name).filter(|n| !n.is_empty())
}

fn digest_path(digest: &str) -> Option<String> {
    let (alg, hex) = digest.split_once(':')?;
    let ok_alg = !alg.is_empty() && alg.bytes().all(|b| b.is_ascii_alphanumeric());
    let ok_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (ok_alg && ok_hex).then(|| format!("blobs/{alg}/{hex}"))
}

impl Store {
    fn open(path: &Path) -> Result<Store, ImageError> {
        let meta = std::fs::metadata(path).map_err(|e| err(path, e.to_string()))?;
        if meta.is_dir() {
            return Ok(Store::Dir(path.to_path_buf()));
        }
        let mut file = File::open(path).map_err(|e| err(path, e.to_string()))?;
        let mut magic = [0u8; 4];
        let n = file
            .read(&mut magic)
            .map_err(|e| err(path, e.to_string()))?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(err(
                path,
                "a compressed archive: decompress it first (`docker save` writes a plain tar)",
            ));
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|e| err(path, e.to_string()))?;
        let mut archive = tar::Archive::new(file);
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let entries = archive
            .entries_with_seek()
            .map_err(|e| err(path, format!("not a tar archive: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| err(path, format!("truncated or corrupt tar: {e}")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&name) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(name, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(t) = entry.link_name_bytes() {
                        let t = String::from_utf8_lossy(&t).into_owned();
                        let is_hard = entry.header().entry_type() == tar::EntryType::Link;
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        let joined = if is_hard || dir.is_empty() {
                            t
                        } else {
                            format!("{dir}/{t}")
                        };
                        if let Some(target) = normalize(&joined) {
                            links.insert(name, target);
                        }
                    }
                }
                _ => {}
            }
        }
        // a truncated archive whose last entry's data is missing
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if let Some((name, _)) = files.iter().find(|(_, (off, size))| off + size > len) {
            return Err(err(
                path,
                format!("truncated tar: {name} runs past the end"),
            ));
        }
        Ok(Store::Tar {
            path: path.to_path_buf(),
            files,
            links,
        })
    }

    fn resolve<'a>(&'a self, name: &'a str) -> Option<(u64, u64)> {
        let Store::Tar { files, links, .. } = self else {
            return None;
        };
        let mut cur = name.to_string();
        for _ in 0..8 {
            if let Some(&loc) = files.get(&cur) {
                return Some(loc);
            }
            cur = links.get(&cur)?.clone();
        }
        None
    }

    fn exists(&self, name: &str) -> bool {
        match self {
            Store::Dir(root) => root.join(name).is_file(),
            Store::Tar { .. } => self.resolve(name).is_some(),
        }
    }

    fn open_file(&self, name: &str) -> Result<Box<dyn Read + '_>, ImageError> {
        match self {
            Store::Dir(root) => {
                let p = root.join(name);
                // a symlink in the layout must not lead out of it
                let real = std::fs::canonicalize(&p).map_err(|e| err(&p, e.to_string()))?;
                let root_real =
                    std::fs::canonicalize(root).map_err(|e| err(root, e.to_string()))?;
                if !real.starts_with(&root_real) {
                    return Err(err(&p, "leads outside the image directory"));
                }
                let f = File::open(&real).map_err(|e| err(&p, e.to_string()))?;
                Ok(Box::new(f))
            }
            Store::Tar { path, .. } => {
                let (off, size) = self
                    .resolve(name)
                    .ok_or_else(|| err(path, format!("{name} is not in the archive")))?;
                let mut f = File::open(path).map_err(|e| err(path, e.to_string()))?;
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| err(path, e.to_string()))?;
                Ok(Box::new(f.take(size)))
            }
        }
    }

    fn read_json(&self, name: &str) -> Result<(Value, Vec<u8>), ImageError> {
        let mut buf = Vec::new();
        self.open_file(name)?
            .take(MAX_JSON_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| err(Path::new(name), e.to_string()))?;
        if buf.len() as u64 > MAX_JSON_BYTES {
            return Err(err(Path::new(name), "larger than 16 MiB"));
        }
        let v = serde_json::from_slice(&buf)
            .map_err(|e| err(Path::new(name), format!("invalid JSON: {e}")))?;
        Ok((v, buf))
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl Image {
    /// Opens `path` (a directory or a plain tar) as a docker archive or an OCI layout.
    pub fn open(path: &Path) -> Result<Image, ImageError> {
        let store = Store::open(path)?;
        if store.exists("manifest.json") {
            return Image::docker(store, path);
        }
        if store.exists("index.json") {
            return Image::oci(store, path);
        }
        Err(err(
            path,
            "neither a docker archive (manifest.json) nor an OCI layout (index.json)",
        ))
    }

    fn docker(store: Store, path: &Path) -> Result<Image, ImageError> {
        let (manifest, _) = store.read_json("manifest.json")?;
        let first = manifest
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| err(path, "manifest.json lists no image"))?;
        let config_name = first
            .get("Config")
            .and_then(Value::as_str)
            .and_then(safe_name)
            .ok_or_else(|| err(path, "manifest.json: missing or unsafe Config path"))?;
        let mut layer_names = Vec::new();
        for l in strings(&first["Layers"]) {
            layer_names.push(
                safe_name(&l)
                    .ok_or_else(|| err(path, format!("manifest.json: unsafe layer path {l:?}")))?,
            );
        }
        let repo_tags = strings(&first["RepoTags"]);
        let (config, raw) = store.read_json(&config_name)?;
        let diff_ids = strings(&config["rootfs"]["diff_ids"]);
        let layers = layer_names
            .into_iter()
            .enumerate()
            .map(|(i, name)| LayerRef {
                // docker 25+ archives name layers by blob path: the digest is in the name
                digest: name
                    .strip_prefix("blobs/sha256/")
                    .map(|h| format!("sha256:{h}"))
                    .unwrap_or_default(),
                diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
                name,
            })
            .collect();
        Ok(Image {
            store,
            image_id: sha256_id(&raw),
            config,
            repo_tags,
            layers,
        })
    }

    fn oci(store: Store, path: &Path) -> Result<Image, ImageError> {
        let (index, _) = store.read_json("index.json")?;
        let mut manifest = None;
        let mut tags = Vec::new();
        let mut desc = index["manifests"].as_array().and_then(|m| pick(m)).cloned();
        // an index may point to another index (multi-platform): follow a few levels
        for _ in 0..4 {
            let Some(d) = desc.take() else { break };
            if let Some(tag) = d["annotations"]["org.opencontainers.image.ref.name"].as_str() {
                tags.push(tag.to_string());
            }
            let name = d["digest"]
                .as_str()
                .and_then(digest_path)
                .ok_or_else(|| err(path, "index.json: missing or invalid digest"))?;
            let (m, _) = store.read_json(&name)?;
            if m.get("manifests").is_some() {
                desc = m["manifests"].as_array().and_then(|m| pick(m)).cloned();
                continue;
            }
            manifest = Some(m);
            break;
        }
        let manifest = manifest.ok_or_else(|| err(path, "index.json names no image manifest"))?;
        let config_name = manifest["config"]["digest"]
            .as_str()
            .and_then(digest_path)
            .ok_or_else(|| err(path, "manifest: missing or invalid config digest"))?;
        let (config, raw) = store.read_json(&config_name)?;
        let diff_ids = strings(&config["rootfs"]["diff_ids"]);
        let mut layers = Vec::new();
        for (i, l) in manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let digest = l["digest"].as_str().unwrap_or("");
            let name = digest_path(digest)
                .ok_or_else(|| err(path, format!("manifest: invalid layer digest {digest:?}")))?;
            layers.push(LayerRef {
                name,
                digest: digest.to_string(),
                diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
            });
        }
        Ok(Image {
            store,
            image_id: sha256_id(&raw),
            config,
            repo_tags: tags,
            layers,
        })
    }

    /// The raw (possibly compressed) bytes of a layer.
    pub fn layer_blob(&self, layer: &LayerRef) -> Result<Box<dyn Read + '_>, ImageError> {
        self.store.open_file(&layer.name)
    }
}

/// linux/amd64 when the index says so, else the first manifest.
fn pick(manifests: &[Value]) -> Option<&Value> {
    manifests
        .iter()
        .find(|m| {
            m["platform"]["os"].as_str() == Some("linux")
                && m["platform"]["architecture"].as_str() == Some("amd64")
        })
        .or_else(|| manifests.first())
}

fn sha256_id(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_refused() {
        assert_eq!(safe_name("abc/layer.tar").as_deref(), Some("abc/layer.tar"));
        assert_eq!(safe_name("../etc/passwd"), None);
        assert_eq!(safe_name("/etc/passwd"), None);
        assert_eq!(safe_name("a/../../b"), None);
        assert_eq!(
            digest_path("sha256:abc0").as_deref(),
            Some("blobs/sha256/abc0")
        );
        assert_eq!(digest_path("sha256:../../x"), None);
        assert_eq!(digest_path("nocolon"), None);
    }
}
