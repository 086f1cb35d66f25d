#!/usr/bin/env python3
"""A `vault` executable for hvac's integration-test harness, backed by opshelf.

hvac's ServerManager runs `vault -version` and `vault server -config=<file>` (the HCL config
translated to JSON, with `backend "inmem"` and a TLS `listener "tcp"`). This shim translates
that config into an opshelf.toml (storage: a fresh SQLite file in a temp dir, the moral
equivalent of inmem), starts the real opshelf binary ($OPSHELF_BIN) on a loopback port, and
terminates TLS in front of it with the certificate and key the config names (opshelf's
listener speaks plain HTTP today). Every request is answered by opshelf; the shim only
moves bytes.
"""

import asyncio
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

VERSION = os.environ.get("OPSHELF_VAULT_VERSION", "1.17.0")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def serve_tls(host, port, backend_port, cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, host, port, ssl=ctx if cert else None)
    async with server:
        await server.serve_forever()


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
    backend_port = free_port()
    lines = [f'data_dir = "{work}/data"', "[admin]", 'listen = "127.0.0.1:0"', "[secrets]", "enabled = true",
             f'listen = "127.0.0.1:{backend_port}"']
    for ttl in ("default_lease_ttl", "max_lease_ttl"):
        if ttl in cfg:
            lines.append(f'{ttl} = "{cfg[ttl]}"')
    for cap in ("flags", "waf"):
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
            socket.create_connection(("127.0.0.1", backend_port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    print(f"==> opshelf (Vault API) listening on {addr} -> 127.0.0.1:{backend_port}", flush=True)
    try:
        asyncio.run(serve_tls(host, int(port), backend_port, cert, key))
    finally:
        stop()
    return 0


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
