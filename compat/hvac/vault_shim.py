#!/usr/bin/env python3
"""A `vault` executable for hvac's integration-test harness, backed by opshelf.

hvac's ServerManager runs `vault -version` and `vault server -config=<file>` (the HCL config
translated to JSON, with `backend "inmem"` and a TLS `listener "tcp"`). This shim translates
that config into an opshelf.toml (storage: a fresh SQLite file in a temp dir, the moral
equivalent of inmem; the listener's address, tls_cert_file and tls_key_file as they are) and
runs the real opshelf binary ($OPSHELF_BIN), which serves hvac directly, TLS included.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

VERSION = os.environ.get("OPSHELF_VAULT_VERSION", "1.17.0")


def load_config(path):
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        import hcl  # pyhcl, installed by compat/hvac/run

        return hcl.loads(text)


def first_tcp_listener(cfg):
    listeners = cfg.get("listener", [])
    if isinstance(listeners, dict):
        listeners = [listeners]
    for entry in listeners:
        if "tcp" in entry:
            tcp = entry["tcp"]
            return tcp[0] if isinstance(tcp, list) else tcp
    return {}


def die_with_parent():
    # the harness SIGKILLs this shim; take opshelf down with it
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def server(argv):
    cfg_path = None
    for a in argv:
        if a.startswith("-config="):
            cfg_path = a.split("=", 1)[1]
    if cfg_path is None:
        print("vault shim: only `server -config=FILE` is supported", file=sys.stderr)
        return 2
    cfg = load_config(cfg_path)
    tcp = first_tcp_listener(cfg)
    addr = tcp.get("address", "127.0.0.1:8200")
    host, port = addr.rsplit(":", 1)
    tls_off = str(tcp.get("tls_disable", "false")).lower() in ("1", "true")
    cert = None if tls_off else tcp.get("tls_cert_file")
    key = None if tls_off else tcp.get("tls_key_file")

    opshelf = os.environ.get("OPSHELF_BIN")
    if not opshelf:
        print("vault shim: OPSHELF_BIN is not set", file=sys.stderr)
        return 2
    example = subprocess.run([opshelf, "config", "example"], capture_output=True, text=True).stdout
    work = tempfile.mkdtemp(prefix="opshelf-vault-shim-")
    lines = [f'data_dir = "{work}/data"', "[admin]", 'listen = "127.0.0.1:0"', "[secrets]", "enabled = true",
             f'listen = "{host}:{port}"']
    if cert and key:
        lines += [f'tls_cert_file = "{os.path.abspath(cert)}"', f'tls_key_file = "{os.path.abspath(key)}"']
    for ttl in ("default_lease_ttl", "max_lease_ttl"):
        if ttl in cfg:
            lines.append(f'{ttl} = "{cfg[ttl]}"')
    for cap in ("flags", "waf", "traces", "logs", "console"):
        if f"[{cap}]" in example:
            lines += [f"[{cap}]", "enabled = false"]
    toml_path = os.path.join(work, "opshelf.toml")
    with open(toml_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    log = open(os.path.join(work, "opshelf.log"), "w")
    child = subprocess.Popen([opshelf, "--config", toml_path, "serve"], stdout=log, stderr=log,
                             preexec_fn=die_with_parent)

    def stop(*_):
        child.terminate()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.time() + 20
    while time.time() < deadline:
        if child.poll() is not None:
            print(f"vault shim: opshelf exited with {child.returncode}; see {work}/opshelf.log", file=sys.stderr)
            return 1
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"==> opshelf (Vault API) listening on {addr}{' (TLS)' if cert else ''}", flush=True)
    child.wait()
    return child.returncode


def main(argv):
    if not argv:
        print("usage: vault -version | vault server -config=FILE", file=sys.stderr)
        return 1
    if argv[0] in ("-version", "--version", "version", "-v"):
        print(f"Vault v{VERSION} (opshelf)")
        return 0
    if argv[0] == "server":
        return server(argv[1:])
    print(f"vault shim: unsupported command {argv[0]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
