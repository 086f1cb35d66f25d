//! Image scans on archives built here, in memory: layers, whiteouts, both container formats,
//! and hostile input (truncation, escaping paths and links, sparse and bomb layers).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::ignorefile::IgnoreList;
use crate::scan::Scanners;

enum E<'a> {
    File(&'a str, &'a [u8]),
    Exec(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn layer_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match e {
            E::File(p, data) | E::Exec(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(if matches!(e, E::Exec(..)) {
                    0o755
                } else {
                    0o644
                });
                // raw names: `append_data` would refuse `..`, a hostile layer would not
                set_raw_name(&mut h, p);
                h.set_cksum();
                b.append(&h, *data).expect("append");
            }
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(0o755);
                set_raw_name(&mut h, p);
                h.set_cksum();
                b.append(&h, std::io::empty()).expect("append");
            }
            E::Symlink(p, t) | E::Hardlink(p, t) => {
                h.set_entry_type(if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                h.set_mode(0o777);
                set_raw_name(&mut h, p);
                let name = h.as_old_mut().linkname.as_mut();
                name[..t.len()].copy_from_slice(t.as_bytes());
                h.set_cksum();
                b.append(&h, std::io::empty()).expect("append");
            }
        }
    }
    b.into_inner().expect("tar")
}

fn set_raw_name(h: &mut tar::Header, p: &str) {
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..p.len()].copy_from_slice(p.as_bytes());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

fn sha(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

struct Built {
    _dir: tempfile::TempDir,
    docker_tar: PathBuf,
    oci_dir: PathBuf,
    oci_tar: PathBuf,
    diff_ids: Vec<String>,
}

fn config_json(diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created_by": "/bin/sh -c #(nop)  CMD [\"bash\"]", "empty_layer": true},
            {"created_by": "RUN /bin/sh -c pip install app # buildkit"}
        ]
    }))
    .expect("config")
}

/// Writes `files` (name -> bytes) as a tar.
fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data.as_slice())
            .expect("append");
    }
    b.finish().expect("finish");
}

/// The same image as a docker archive, an OCI directory and an OCI tar. `layers` are raw
/// (uncompressed) tars; `compress` picks each blob's compression.
type Compress = fn(&[u8]) -> Vec<u8>;

fn build(layers: &[Vec<u8>], compress: &[Compress]) -> Built {
    let dir = tempfile::tempdir().expect("tempdir");
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(l)))
        .collect();
    let config = config_json(&diff_ids);
    let config_hex = sha(&config);
    let blobs: Vec<Vec<u8>> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| compress.get(i).map_or_else(|| l.clone(), |c| c(l)))
        .collect();

    // docker save
    let mut files = vec![(format!("{config_hex}.json"), config.clone())];
    let mut names = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        let n = format!("layer{i}/layer.tar");
        files.push((n.clone(), b.clone()));
        names.push(n);
    }
    let manifest = json!([{"Config": format!("{config_hex}.json"), "RepoTags": ["test/app:1"], "Layers": names}]);
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).expect("json"),
    ));
    let docker_tar = dir.path().join("docker.tar");
    write_tar(&docker_tar, &files);

    // OCI layout
    let mut oci: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layer_descs = Vec::new();
    for b in &blobs {
        let h = sha(b);
        oci.push((format!("blobs/sha256/{h}"), b.clone()));
        layer_descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{h}"), "size": b.len()}));
    }
    oci.push((format!("blobs/sha256/{config_hex}"), config.clone()));
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config.len()},
        "layers": layer_descs,
    }))
    .expect("json");
    let mh = sha(&m);
    oci.push((format!("blobs/sha256/{mh}"), m.clone()));
    oci.push((
        "index.json".into(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{mh}"), "size": m.len(), "annotations": {"org.opencontainers.image.ref.name": "1"}}]})).expect("json"),
    ));
    oci.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    let oci_dir = dir.path().join("oci");
    for (n, d) in &oci {
        let p = oci_dir.join(n);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, d).expect("write");
    }
    let oci_tar = dir.path().join("oci.tar");
    write_tar(&oci_tar, &oci);
    Built {
        _dir: dir,
        docker_tar,
        oci_dir,
        oci_tar,
        diff_ids,
    }
}

fn options(target: &Path) -> ImageOptions {
    ImageOptions {
        scan: Options {
            target: target.to_path_buf(),
            scanners: Scanners::parse("vuln,secret").expect("scanners"),
            severities: Vec::new(),
            ignore_unfixed: false,
            include_dev_deps: false,
            list_all_pkgs: true,
            skip_dirs: Vec::new(),
            skip_files: Vec::new(),
            secret_config: None,
            secret_config_path: None,
            ignore: IgnoreList::default(),
            max_secret_file_bytes: 1 << 20,
            progress: false,
            threads: 1,
        },
        limits: Limits::default(),
        config_misconfig: true,
    }
}

fn db() -> Database {
    let recs = [
        r#"{"id":"DSA-5532-1","aliases":["CVE-2023-5363"],"modified":"2024-01-01T00:00:00Z","summary":"openssl: bad","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}"#,
        r#"{"id":"DSA-1-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:11","name":"bash"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"9.9"}]}]}]}"#,
        r#"{"id":"GHSA-npm","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}"#,
        r#"{"id":"PYSEC-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"PyPI","name":"requests"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.31.0"}]}]}]}"#,
    ];
    Database::new(
        recs.iter()
            .map(|r| {
                crate::osv::compact(&crate::osv::parse_record(r.as_bytes(), false).expect("rec"))
                    .expect("compact")
            })
            .collect(),
    )
}

const STATUS: &str = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n\nPackage: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n";
const STATUS2: &str = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n\nPackage: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\nPackage: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n";

fn layers() -> Vec<Vec<u8>> {
    let go = binary::tests::go_blob(
        "go1.22.5",
        "path\tx\nmod\tx\t(devel)\t\ndep\tgolang.org/x/net\tv0.30.0\th1:x=\n",
    );
    let base = layer_tar(&[
        E::Dir("etc"),
        E::File("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        E::File("etc/debian_version", b"12.5\n"),
        E::File("var/lib/dpkg/status", STATUS.as_bytes()),
        E::File(
            "usr/lib/python3/dist-packages/Foo-1.0.dist-info/METADATA",
            b"Name: Foo\nVersion: 1.0\n",
        ),
        E::File(
            "usr/lib/python3/dist-packages/requests-2.0.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: requests\nVersion: 2.0.0\n",
        ),
        E::File(
            "app/.env",
            b"GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        ),
        E::File(
            "app/node_modules/left-pad/package.json",
            br#"{"name":"left-pad","version":"1.1.0"}"#,
        ),
        E::Exec("usr/local/bin/tool", &go),
        E::Symlink("etc/escape", "/../../../etc/passwd"),
    ]);
    let top = layer_tar(&[
        E::File("usr/lib/python3/dist-packages/.wh.Foo-1.0.dist-info", b""),
        E::File("app/.wh..wh..opq", b""),
        E::File("app/new.txt", b"nothing here\n"),
        E::File("var/lib/dpkg/status", STATUS2.as_bytes()),
        E::File("srv/web/node_modules/left-pad/package.json", br#"{"name":"left-pad","version":"1.1.0"}"#),
        E::File("srv/web/config.env", b"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nsecret=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n"),
        E::Hardlink("usr/local/bin/tool2", "usr/local/bin/tool"),
    ]);
    vec![base, top]
}

fn check_report(out: &ImageOutcome, diff_ids: &[String]) {
    let r = &out.report;
    let j = report::to_json(r);
    assert_eq!(j["ArtifactType"], "container_image");
    assert_eq!(j["Metadata"]["OS"]["Family"], "debian");
    assert_eq!(j["Metadata"]["OS"]["Name"], "12.5");
    assert_eq!(j["Metadata"]["DiffIDs"], json!(diff_ids));
    assert_eq!(j["Metadata"]["ImageConfig"]["architecture"], "amd64");
    assert!(
        j["Metadata"]["ImageID"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:"))
    );
    let os = &j["Results"][0];
    assert_eq!(os["Class"], "os-pkgs");
    assert_eq!(os["Type"], "debian");
    assert!(
        os["Target"]
            .as_str()
            .is_some_and(|t| t.ends_with(" (debian 12.5)")),
        "{os}"
    );
    let names: Vec<&str> = os["Packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["Name"].as_str())
        .collect();
    assert_eq!(names, vec!["bash", "curl", "libssl3"]);
    let v = &os["Vulnerabilities"];
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["VulnerabilityID"], "CVE-2023-5363");
    assert_eq!(v[0]["PkgName"], "libssl3");
    assert_eq!(v[0]["InstalledVersion"], "3.0.11-1~deb12u1");
    assert_eq!(v[0]["FixedVersion"], "3.0.11-1~deb12u2");
    assert_eq!(
        v[0]["Layer"]["DiffID"], diff_ids[1],
        "the status file of the top layer"
    );
    assert_eq!(
        v[0]["PkgIdentifier"]["PURL"],
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12.5"
    );
    let by_target =
        |t: &str| -> Option<&Value> { j["Results"].as_array()?.iter().find(|x| x["Target"] == t) };
    // Foo was whited out, requests stays
    let py = by_target("Python").expect("python result");
    assert_eq!(py["Type"], "python-pkg");
    assert_eq!(py["Packages"].as_array().map(Vec::len), Some(1), "{py}");
    assert_eq!(py["Vulnerabilities"][0]["VulnerabilityID"], "PYSEC-1");
    // app/ was made opaque: its node_modules and .env are gone; srv/web's copy remains
    let node = by_target("Node.js").expect("node result");
    assert_eq!(node["Packages"].as_array().map(Vec::len), Some(1), "{node}");
    assert_eq!(
        node["Packages"][0]["FilePath"],
        "srv/web/node_modules/left-pad/package.json"
    );
    assert_eq!(node["Vulnerabilities"][0]["FixedVersion"], "1.3.0");
    let go = by_target("usr/local/bin/tool").expect("go binary");
    assert_eq!(go["Type"], "gobinary");
    assert!(
        by_target("usr/local/bin/tool2").is_some(),
        "hardlinked binary"
    );
    let go_names: Vec<(&str, &str)> = go["Packages"]
        .as_array()
        .expect("pkgs")
        .iter()
        .map(|p| {
            (
                p["Name"].as_str().unwrap_or(""),
                p["Version"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(go_names.contains(&("stdlib", "v1.22.5")), "{go_names:?}");
    assert!(
        go_names.contains(&("golang.org/x/net", "v0.30.0")),
        "{go_names:?}"
    );
    assert!(by_target("/app/.env").is_none(), "hidden by the opaque dir");
    let sec = by_target("/srv/web/config.env").expect("secret result");
    let ids: Vec<&str> = sec["Secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .filter_map(|s| s["RuleID"].as_str())
        .collect();
    assert!(ids.contains(&"github-pat"), "{ids:?}");
    assert!(
        !j.to_string()
            .contains("abcdefghijklmnopqrstuvwxyz0123456789")
    );
    let conf = by_target("Dockerfile").expect("image config checks");
    let ids: Vec<&str> = conf["Misconfigurations"]
        .as_array()
        .expect("misconf")
        .iter()
        .filter_map(|m| m["ID"].as_str())
        .collect();
    assert!(ids.contains(&"DS002") && ids.contains(&"DS026"), "{ids:?}");
    // every other format renders
    let t = report::to_table(r);
    assert!(
        t.contains("CVE-2023-5363") && t.contains("(debian 12.5)"),
        "{t}"
    );
    let s = report::to_sarif(r, "0");
    assert!(s.to_string().contains("OsPackageVulnerability"));
    let c = report::to_cyclonedx(r, "0");
    assert_eq!(c["metadata"]["component"]["type"], "container");
}

#[test]
fn docker_archive_and_oci_layouts_give_the_same_findings() {
    let b = build(&layers(), &[gzip, zstd]);
    for target in [&b.docker_tar, &b.oci_dir, &b.oci_tar] {
        let out = scan_image(&options(target), &db()).unwrap_or_else(|e| panic!("{e}"));
        check_report(&out, &b.diff_ids);
    }
    let out = scan_image(&options(&b.docker_tar), &db()).expect("scan");
    assert_eq!(
        report::to_json(&out.report)["Metadata"]["RepoTags"],
        json!(["test/app:1"])
    );
}

#[test]
fn truncated_archives_fail_clearly() {
    let b = build(&layers(), &[gzip, gzip]);
    let bytes = std::fs::read(&b.docker_tar).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    for cut in [100, bytes.len() / 2, bytes.len() - 2000] {
        let p = dir.path().join(format!("cut{cut}.tar"));
        std::fs::write(&p, &bytes[..cut]).expect("write");
        let e = scan_image(&options(&p), &db());
        assert!(e.is_err(), "cut at {cut} scanned");
    }
    // a truncated layer inside a complete archive
    let layer = gzip(&layers()[0]);
    let short = layer[..layer.len() / 2].to_vec();
    let b = build(&[short], &[]);
    let e = scan_image(&options(&b.docker_tar), &db()).expect_err("truncated layer");
    assert!(e.to_string().starts_with("layer "), "{e}");
}

#[test]
fn escaping_paths_and_links_are_skipped() {
    let outside = tempfile::tempdir().expect("tempdir");
    let victim = outside.path().join("victim");
    let bad = layer_tar(&[
        E::File(
            "../../../../../../tmp/evil-opshelf",
            b"GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n",
        ),
        E::File("a/../../etc/passwd", b"x"),
        E::Symlink("etc", "/"),
        E::Symlink("link", "../../../../"),
        E::File("link/var/lib/dpkg/status", STATUS.as_bytes()),
        E::Hardlink("hard", "../../../etc/shadow"),
        E::Hardlink("hard2", &victim.display().to_string()),
    ]);
    let b = build(&[bad], &[gzip]);
    let out = scan_image(&options(&b.docker_tar), &db()).expect("scan");
    let w = out.warnings.join("\n");
    assert!(w.contains("leaves the image root"), "{w}");
    assert!(out.report.results.iter().all(|r| r.secrets.is_empty()));
    // a file under a symlinked dir is analysed at its own path, never through the link
    assert!(
        out.report
            .results
            .iter()
            .all(|r| r.class != ResultClass::OsPkgs)
    );
    assert!(!Path::new("/tmp/evil-opshelf").exists());
    assert!(!victim.exists());
    // manifest paths that leave the archive
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("evil.tar");
    write_tar(
        &p,
        &[(
            "manifest.json".into(),
            br#"[{"Config":"../../etc/passwd","Layers":[]}]"#.to_vec(),
        )],
    );
    let e = scan_image(&options(&p), &db()).expect_err("unsafe config path");
    assert!(e.to_string().contains("unsafe"), "{e}");
}

/// A GNU sparse entry claiming 10 GB with one 512-byte data block.
fn sparse_layer() -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    set_raw_name(&mut h, "data/huge.img");
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(512);
    {
        let g = h.as_gnu_mut().expect("gnu");
        let real: u64 = 10 << 30;
        let octal = |dst: &mut [u8], v: u64| {
            let s = format!("{v:0width$o}", width = dst.len() - 1);
            dst[..s.len()].copy_from_slice(s.as_bytes());
        };
        octal(&mut g.realsize, real);
        octal(&mut g.sparse[0].offset, real - 512);
        octal(&mut g.sparse[0].numbytes, 512);
    }
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    let mut block = vec![0u8; 512];
    block[..13].copy_from_slice(b"ghp_notreally");
    out.extend_from_slice(&block);
    let rest = layer_tar(&[E::File("etc/os-release", b"ID=debian\nVERSION_ID=12\n")]);
    out.extend_from_slice(&rest);
    out
}

#[test]
fn sparse_ten_gigabytes_is_skipped_with_a_warning() {
    let b = build(&[sparse_layer()], &[gzip]);
    let started = std::time::Instant::now();
    let out = scan_image(&options(&b.docker_tar), &db()).expect("scan");
    assert!(started.elapsed().as_secs() < 20);
    let w = out.warnings.join("\n");
    assert!(w.contains("data/huge.img"), "{w}");
    assert!(out.bytes < 1 << 20, "read {} bytes", out.bytes);
    // the entry after it is still read
    assert_eq!(
        report::to_json(&out.report)["Metadata"]["OS"]["Family"],
        "debian"
    );
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 24 << 20];
    let raw = layer_tar(&[E::File("zeros.bin", &zeros)]);
    for compress in [gzip as Compress, zstd] {
        let b = build(std::slice::from_ref(&raw), &[compress]);
        assert!(std::fs::metadata(&b.docker_tar).expect("meta").len() < 1 << 20);
        let mut o = options(&b.docker_tar);
        o.limits.max_image_bytes = 4 << 20;
        let e = scan_image(&o, &db()).expect_err("bomb");
        assert!(e.to_string().contains("inflate to more than"), "{e}");
        // within the limit, the big file is read for nothing and reported skipped
        let mut o = options(&b.docker_tar);
        o.limits.max_image_bytes = 64 << 20;
        let out = scan_image(&o, &db()).expect("scan");
        assert!(
            out.warnings.iter().any(|w| w.contains("zeros.bin")),
            "{:?}",
            out.warnings
        );
    }
}

#[test]
fn not_an_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = scan_image(&options(dir.path()), &db()).expect_err("empty dir");
    assert!(e.to_string().contains("neither a docker archive"), "{e}");
    let p = dir.path().join("x.tar.gz");
    std::fs::write(&p, gzip(b"hello")).expect("write");
    let e = scan_image(&options(&p), &db()).expect_err("gzip");
    assert!(e.to_string().contains("compressed archive"), "{e}");
}
