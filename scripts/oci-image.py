#!/usr/bin/env python3
"""Writes an OCI image archive (an OCI layout in a tar) without Docker, for `make image` and the node harness.

  oci-image.py operator --binary target/release/securityhub-operator --name REF --out image.tar
  oci-image.py pause --busybox /bin/busybox --name registry.k8s.io/pause:3.10 --out pause.tar
  oci-image.py inspect image.tar        the config and the file list, as JSON

The operator image holds what the Dockerfile's distroless image holds (tests/image.rs keeps them equal): the
binary, the shared libraries it links (glibc, libgcc_s, the dynamic loader), a CA bundle, /etc/passwd and
/etc/group with user nonroot (65532), /tmp and /home/nonroot; no shell. One uncompressed layer, fixed times and
owners, so the same inputs give the same digest. `ctr images import` loads it under REF.
"""

import argparse
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile

BINARY_PATH = "usr/local/bin/securityhub-operator"
USER = "65532:65532"
ENTRYPOINT = ["/usr/local/bin/securityhub-operator"]
CMD = ["run"]
EXPOSED_PORTS = ["8080/tcp"]
LABELS = {
    "org.opencontainers.image.title": "securityhub-operator",
    "org.opencontainers.image.description": "Declarative AWS Security Hub membership for Kubernetes",
    "org.opencontainers.image.licenses": "Apache-2.0",
}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
ENV = ["PATH=/usr/local/bin:/usr/bin:/bin", f"SSL_CERT_FILE={CA_BUNDLE}"]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


class Layer:
    """One image layer built in memory: regular files, directories, fixed metadata."""

    def __init__(self):
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.dirs = set()

    def directory(self, path, mode=0o755, owner=0):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.directory(os.path.dirname(path))
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.uid, info.gid, info.mtime = tarfile.DIRTYPE, mode, owner, owner, 0
        self.tar.addfile(info)
        self.dirs.add(path)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        self.directory(os.path.dirname(path))
        info = tarfile.TarInfo(path)
        info.size, info.mode, info.mtime = len(data), mode, 0
        self.tar.addfile(info, io.BytesIO(data))

    def bytes(self):
        self.tar.close()
        return self.buffer.getvalue()


def linked_libraries(binary):
    """The paths of the shared objects `binary` loads (ldd), the dynamic loader included."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            paths.append(match.group(1))
    return paths


def architecture():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def operator_layer(binary):
    layer = Layer()
    layer.file(BINARY_PATH, read(binary), 0o755)
    for path in linked_libraries(binary):
        layer.file(path, read(os.path.realpath(path)), 0o755)
    layer.file(CA_BUNDLE, read(CA_BUNDLE))
    layer.file("etc/passwd", PASSWD.encode())
    layer.file("etc/group", GROUP.encode())
    layer.file("etc/nsswitch.conf", b"hosts: files dns\n")
    layer.directory("tmp", 0o1777)
    layer.directory("home/nonroot", 0o700, 65532)
    config = {
        "User": USER,
        "Entrypoint": ENTRYPOINT,
        "Cmd": CMD,
        "Env": ENV,
        "WorkingDir": "/",
        "ExposedPorts": {port: {} for port in EXPOSED_PORTS},
        "Labels": LABELS,
    }
    return layer.bytes(), config


def pause_layer(busybox):
    layer = Layer()
    layer.file("bin/busybox", read(busybox), 0o755)
    return layer.bytes(), {"Entrypoint": ["/bin/busybox", "sleep", "2147483647"], "User": "65535:65535"}


def blob(tar, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest.split(":")[1])
    info.size, info.mtime = len(data), 0
    tar.addfile(info, io.BytesIO(data))
    return {"digest": digest, "size": len(data)}


def write_archive(out, name, layer, config):
    image_config = {
        "architecture": architecture(),
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created_by": "scripts/oci-image.py"}],
    }
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        layer_ref = dict(mediaType=LAYER, **blob(tar, layer))
        config_ref = dict(mediaType=CONFIG, **blob(tar, json.dumps(image_config, sort_keys=True).encode()))
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config_ref, "layers": [layer_ref]}
        manifest_ref = dict(mediaType=MANIFEST, **blob(tar, json.dumps(manifest, sort_keys=True).encode()))
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
        manifest_ref["annotations"] = {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
        for path, doc in (("oci-layout", {"imageLayoutVersion": "1.0.0"}),
                          ("index.json", {"schemaVersion": 2, "manifests": [manifest_ref]})):
            data = json.dumps(doc, sort_keys=True).encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, out)
    return manifest_ref["digest"]


def inspect(archive):
    """The image's config and its files: what a test compares with the Dockerfile."""
    with tarfile.open(archive) as tar:
        def load(digest):
            return tar.extractfile("blobs/sha256/" + digest.split(":")[1]).read()

        index = json.loads(tar.extractfile("index.json").read())
        manifest = json.loads(load(index["manifests"][0]["digest"]))
        config = json.loads(load(manifest["config"]["digest"]))
        files, passwd = [], ""
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(load(layer["digest"]))) as layer_tar:
                files += [{"path": "/" + m.name, "type": "dir" if m.isdir() else "file", "mode": m.mode,
                           "uid": m.uid} for m in layer_tar.getmembers()]
                if "etc/passwd" in layer_tar.getnames():
                    passwd = layer_tar.extractfile("etc/passwd").read().decode()
    return {"name": index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "config": config["config"], "architecture": config["architecture"], "files": files, "passwd": passwd}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    operator = sub.add_parser("operator")
    operator.add_argument("--binary", required=True)
    pause = sub.add_parser("pause")
    pause.add_argument("--busybox", required=True)
    for p in (operator, pause):
        p.add_argument("--name", required=True, help="the image reference, e.g. ghcr.io/o/securityhub-operator:0.1.0")
        p.add_argument("--out", required=True)
    look = sub.add_parser("inspect")
    look.add_argument("archive")
    args = parser.parse_args()
    if args.kind == "inspect":
        json.dump(inspect(args.archive), sys.stdout, indent=1)
        print()
        return
    layer, config = operator_layer(args.binary) if args.kind == "operator" else pause_layer(args.busybox)
    digest = write_archive(args.out, args.name, layer, config)
    print(f"{args.out}: {args.name} ({digest}, {os.path.getsize(args.out) // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
