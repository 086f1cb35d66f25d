#!/usr/bin/env python3
"""Packs layer directories into a docker-save archive and an OCI image layout (dir + tar),
by hand: tar + sha256 + JSON, as `docker save` and `umoci` write them.

usage: pack.py OUT_DIR LAYER_DIR... -- (each LAYER_DIR becomes one layer, in order)
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def layer_tar(src):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                rel = os.path.relpath(full, src)
                info = t.gettarinfo(full, arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if info.isreg():
                    with open(full, "rb") as f:
                        t.addfile(info, f)
                else:
                    t.addfile(info)
            # os.walk does not descend into symlinked dirs: they are archived as links
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main():
    out = sys.argv[1]
    layers = [layer_tar(d) for d in sys.argv[2:]]
    diff_ids = ["sha256:" + sha(l) for l in layers]
    history = [{"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:rootfs in / "},
               {"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD [\"bash\"]", "empty_layer": True}]
    for i in range(1, len(layers)):
        history.append({"created": "2026-01-01T00:00:00Z", "created_by": f"RUN /bin/sh -c layer-{i} # buildkit"})
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": ["/srv/app/start"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }).encode()
    chex = sha(config)
    os.makedirs(out, exist_ok=True)

    # docker save (uncompressed layers)
    with tarfile.open(os.path.join(out, "docker.tar"), "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
        add(f"{chex}.json", config)
        names = []
        for l in layers:
            n = f"{sha(l)}/layer.tar"
            add(n, l)
            names.append(n)
        add("manifest.json", json.dumps([{"Config": f"{chex}.json", "RepoTags": ["opshelf-test/app:1"], "Layers": names}]).encode())

    # OCI layout (gzip layers), as a directory and as a tar
    oci = os.path.join(out, "oci")
    blobs = os.path.join(oci, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)

    def blob(data):
        h = sha(data)
        with open(os.path.join(blobs, h), "wb") as f:
            f.write(data)
        return h
    descs = []
    for l in layers:
        gz = gzip.compress(l, compresslevel=1, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + blob(gz), "size": len(gz)})
    blob(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + chex, "size": len(config)},
                           "layers": descs}).encode()
    mh = blob(manifest)
    with open(os.path.join(oci, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mh,
                   "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, f)
    with open(os.path.join(oci, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with tarfile.open(os.path.join(out, "oci.tar"), "w") as t:
        t.add(oci, arcname=".")
    print(json.dumps({"diff_ids": diff_ids}))


main()
