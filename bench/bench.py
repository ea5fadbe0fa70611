#!/usr/bin/env python3
"""`make bench`: the operator at scale against the emulator and a real control plane.

For each scenario: a fresh etcd + kube-apiserver (examples/cluster), a fresh emulator
(--rate 10 --burst 30), the CRD and the finalizer admission policy (as the Helm chart
installs them on Kubernetes 1.36+), N SecurityHubMember resources created server-side by several
concurrent `kubectl apply --server-side` processes while the operator is stopped, then
the release operator is started and timed until every resource is Ready (seen through
a watch on the API server, not by polling). Results go to bench/results.json.

Every process this script starts is stopped by its PID (the control plane through
`cluster down`, which stops its recorded supervisor PID) on exit, Ctrl-C or SIGTERM.
Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import math
import os
import platform
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP, VERSION, PLURAL = "securityhub.operator.dev", "v1alpha1", "securityhubmembers"
NAMESPACE = "bench"
FINALIZER_POLICY = ROOT / "deploy/finalizer-policy/finalizer-policy.yaml"
ADMIN_KEY = "AKIA111111111111EXAM"  # the emulator's caller account: 111111111111
REGION = "us-east-1"
BATCH_LIMIT = 50  # accounts per CreateMembers / InviteMembers / GetMembers

CHILDREN: list[subprocess.Popen] = []  # stopped by PID on exit
CLUSTERS: list[Path] = []  # state dirs of clusters we started


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM by PID, then SIGKILL by PID after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in CHILDREN:
        CHILDREN.remove(proc)


def cleanup() -> None:
    for proc in list(CHILDREN):
        stop(proc, grace=5)
    for state in list(CLUSTERS):
        cluster_down(state)


def on_signal(signum, _frame):
    log(f"signal {signum}: stopping what I started")
    cleanup()
    sys.exit(130)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- control plane


class Cluster:
    def __init__(self, args, state: Path):
        self.args = args
        self.state = state
        self.kubeconfig = state / "kubeconfig"

    def up(self) -> None:
        cluster_down(self.state)
        started = time.monotonic()
        env = dict(os.environ, SHO_CONTROLPLANE_DIR=str(self.args.controlplane))
        CLUSTERS.append(self.state)
        subprocess.run(
            [str(self.args.cluster_bin), "--state-dir", str(self.state), "up"],
            check=True, env=env, stdout=subprocess.DEVNULL, timeout=600,
        )
        self.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        self.kubectl("wait", "--for", "condition=Established", "--timeout=60s", "-f", str(ROOT / "crds"))
        manifests = ([FINALIZER_POLICY] if self.args.finalizer_policy else []) + self.args.manifest
        for manifest in manifests:
            self.kubectl("apply", "--server-side", "-f", str(manifest))
        self.kubectl("create", "namespace", NAMESPACE)
        if manifests:
            self.wait_admission()
        self.api = KubeApi(self.kubectl_json("config", "view", "--raw", "-o", "json"), self.state)
        log(f"control plane up in {time.monotonic() - started:.1f} s")

    def wait_admission(self, timeout: float = 90) -> None:
        """Admission policies on a new CRD answer 503 until the API server's discovery
        refreshes (up to ~30 s): wait until a server-side dry run of a create is admitted."""
        probe = self.state / "admission-probe.yaml"
        probe.write_text(member_doc("admission-probe", "999999999999", False))
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.kubectl("create", "--dry-run=server", "-o", "name", "-f", str(probe))
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def down(self) -> None:
        cluster_down(self.state)

    def kubectl(self, *argv: str, timeout: float = 600) -> str:
        out = subprocess.run(
            [str(self.args.controlplane / "kubectl"), "--kubeconfig", str(self.kubeconfig), *argv],
            check=True, capture_output=True, text=True, timeout=timeout,
        )
        return out.stdout

    def kubectl_json(self, *argv: str):
        return json.loads(self.kubectl(*argv))


def cluster_down(state: Path) -> None:
    if state in CLUSTERS:
        CLUSTERS.remove(state)
    cluster_bin = ARGS.cluster_bin if ARGS else None
    if cluster_bin and state.exists():
        subprocess.run([str(cluster_bin), "--state-dir", str(state), "down"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


class KubeApi:
    """Just enough of the Kubernetes API over TLS with the kubeconfig's client cert."""

    def __init__(self, config: dict, state: Path):
        ctx_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        url = urllib.parse.urlparse(cluster["server"])
        self.host, self.port = url.hostname, url.port or 443
        self.tls = ssl.create_default_context()
        certs = state.parent / (state.name + "-bench-certs")
        certs.mkdir(parents=True, exist_ok=True)
        if "certificate-authority-data" in cluster:
            ca = certs / "ca.crt"
            ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
            self.tls.load_verify_locations(str(ca))
        self.headers = {"Accept": "application/json"}
        if "client-certificate-data" in user:
            crt, key = certs / "client.crt", certs / "client.key"
            crt.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.touch(mode=0o600)
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            self.tls.load_cert_chain(str(crt), str(key))
        if "token" in user:
            self.headers["Authorization"] = f"Bearer {user['token']}"

    def conn(self, timeout: float = 60) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=timeout)

    def request(self, method: str, path: str, body=None, timeout: float = 60):
        c = self.conn(timeout)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        resp = c.getresponse()
        payload = resp.read()
        c.close()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload[:300]!r}")
        return json.loads(payload)

    @staticmethod
    def members_path(namespace: str) -> str:
        return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def ready_of(obj: dict) -> tuple[bool, str]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True", c.get("reason", "")
    return False, ""


class ReadyWatch(threading.Thread):
    """Lists, then watches, the namespace's resources; records when each becomes Ready and
    how many writes (MODIFIED events) each object saw. One long-lived watch, no polling."""

    def __init__(self, api: KubeApi, namespace: str):
        super().__init__(daemon=True)
        self.api, self.path = api, KubeApi.members_path(namespace)
        self.lock = threading.Condition()
        self.ready: dict[str, float] = {}  # name -> monotonic time first seen Ready
        self.known: set[str] = set()
        self.modified = 0
        self.reasons_seen: dict[str, int] = {}  # Ready reasons seen in any event
        self.throttled_objects: set[str] = set()
        self.stopping = False
        self.rv = ""
        self.sample: list[dict] = []  # every version of the first object, for evidence

    def observe(self, obj: dict, modified: bool) -> None:
        name = obj["metadata"]["name"]
        ok, reason = ready_of(obj)
        if name == "m-00001":
            self.sample.append({"at": time.monotonic(), "resourceVersion": obj["metadata"].get("resourceVersion"),
                                "finalizers": obj["metadata"].get("finalizers"), "status": obj.get("status")})
        with self.lock:
            self.known.add(name)
            if modified:
                self.modified += 1
            if reason:
                self.reasons_seen[reason] = self.reasons_seen.get(reason, 0) + 1
            synced = [c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Synced"]
            if reason == "Throttled" or any(c.get("reason") == "Throttled" for c in synced):
                self.throttled_objects.add(name)
            if ok and name not in self.ready:
                self.ready[name] = time.monotonic()
                self.lock.notify_all()

    def list_once(self) -> None:
        cont = ""
        while True:
            q = "?limit=500" + (f"&continue={urllib.parse.quote(cont)}" if cont else "")
            page = self.api.request("GET", self.path + q, timeout=120)
            for obj in page["items"]:
                self.observe(obj, modified=False)
            cont = page["metadata"].get("continue", "")
            if not cont:
                self.rv = page["metadata"]["resourceVersion"]
                return

    def run(self) -> None:
        self.list_once()
        with self.lock:
            self.lock.notify_all()
        while not self.stopping:
            try:
                self.watch_once()
            except Exception as e:  # reconnect; a 410 Gone re-lists
                if self.stopping:
                    return
                log(f"watch: {e}; reconnecting")
                time.sleep(0.5)
                if "410" in str(e) or "Expired" in str(e):
                    self.list_once()

    def watch_once(self) -> None:
        q = f"?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={self.rv}"
        c = self.api.conn(timeout=330)
        c.request("GET", self.path + q, headers=self.api.headers)
        resp = c.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"watch {resp.status} {resp.read()[:200]!r}")
        while not self.stopping:
            line = resp.readline()
            if not line:
                break
            event = json.loads(line)
            kind, obj = event["type"], event["object"]
            if kind == "ERROR":
                raise RuntimeError(f"watch error {obj.get('code')} {obj.get('reason')}")
            self.rv = obj["metadata"].get("resourceVersion", self.rv)
            if kind in ("ADDED", "MODIFIED"):
                self.observe(obj, modified=(kind == "MODIFIED"))
        c.close()

    def wait_ready(self, names: set[str], timeout: float) -> float | None:
        """Monotonic time at which the last of `names` became Ready, or None on timeout."""
        deadline = time.monotonic() + timeout
        last_report = 0.0
        with self.lock:
            while True:
                missing = len(names - self.ready.keys())
                if missing == 0:
                    return max(self.ready[n] for n in names)
                now = time.monotonic()
                if now > deadline:
                    return None
                if len(names) > 1 and now - last_report > 15:
                    log(f"  {len(names) - missing}/{len(names)} Ready")
                    last_report = now
                self.lock.wait(timeout=1.0)


# ---------------------------------------------------------------- emulator and operator


def start_emulator(args, work: Path, config: dict) -> tuple[subprocess.Popen, str]:
    cfg = work / "emulator.json"
    cfg.write_text(json.dumps(config))
    err = open(work / "emulator.log", "w")
    proc = subprocess.Popen(
        [str(args.binary), "emulator", "--listen", "127.0.0.1:0", "--rate", "10", "--burst", "30",
         "--config", str(cfg)],
        stdout=subprocess.PIPE, stderr=err, text=True,
        env=dict(os.environ, RUST_LOG="warn"),
    )
    CHILDREN.append(proc)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"emulator did not start: {line!r}; see {work / 'emulator.log'}")
    url = line.removeprefix("listening on ")
    return proc, url


def http_json(url: str, method: str = "GET", body=None, timeout: float = 30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def start_operator(args, work: Path, cluster: Cluster, emulator: str, extra: list[str]):
    port = free_port()
    env = dict(
        os.environ,
        **dict(kv.split("=", 1) for kv in args.operator_env),
        KUBECONFIG=str(cluster.kubeconfig),
        AWS_ACCESS_KEY_ID=ADMIN_KEY,
        AWS_SECRET_ACCESS_KEY="x",
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL_SECURITYHUB=emulator,
        AWS_ENDPOINT_URL_STS=emulator,
    )
    env.pop("AWS_ENDPOINT_URL", None)
    argv = [
        str(args.binary), "run",
        "--regions", REGION,
        "--resync-pending", args.resync_pending,
        "--metrics-bind-address", f"127.0.0.1:{port}",
        "--log-format", "json",
        "--log-level", "warn",
        *extra,
        *args.operator_flag,
    ]
    out = open(work / "operator.log", "w")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    CHILDREN.append(proc)
    return proc, f"http://127.0.0.1:{port}/metrics", argv


def scrape(metrics_url: str, save: Path | None = None) -> dict:
    """Prometheus text -> {(name, frozenset(labels)): value} for our series."""
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        text = r.read().decode()
    if save:
        save.write_text(text)
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        if "{" in name_labels:
            name, labels = name_labels.split("{", 1)
            pairs = []
            for part in labels.rstrip("}").split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    pairs.append((k, v.strip('"')))
            key = (name, frozenset(pairs))
        else:
            key = (name_labels, frozenset())
        try:
            series[key] = float(value)
        except ValueError:
            pass
    return series


def metric_sum(series: dict, name: str, **labels) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in series.items() if n == name and want <= ls)


class RssSampler(threading.Thread):
    """VmRSS of a process every 0.5 s, to tell a transient peak from a steady footprint."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stopping = pid, [], False
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stopping:
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append((round(time.monotonic() - self.started, 1), int(line.split()[1]) // 1024))
            except OSError:
                return
            time.sleep(0.5)


def control_plane_cpu(state: Path) -> dict:
    """CPU seconds used so far by kube-apiserver and etcd (PIDs recorded by examples/cluster)."""
    out = {}
    for name in ("kube-apiserver", "etcd"):
        try:
            pid = int((state / f"{name}.pid").read_text().strip())
            out[name] = proc_usage(pid)[1]
        except (OSError, ValueError):
            out[name] = 0.0
    return out


def proc_usage(pid: int) -> tuple[float, float]:
    """(peak RSS MiB from VmHWM, CPU seconds utime+stime)."""
    hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    return hwm, cpu


# ---------------------------------------------------------------- resources


def member_doc(name: str, account: str, invited: bool, extra_spec: str = "") -> str:
    email = f"\n  email: sec+{account}@example.com" if invited else ""
    return (
        f"apiVersion: {GROUP}/{VERSION}\nkind: SecurityHubMember\n"
        f"metadata:\n  name: {name}\n  namespace: {NAMESPACE}\n"
        f"spec:\n  accountId: \"{account}\"{email}\n  regions: [{REGION}]\n{extra_spec}"
    )


def create_members(cluster: Cluster, work: Path, docs: list[str], processes: int) -> float:
    """Splits the documents over `processes` concurrent server-side applies; returns seconds."""
    processes = max(1, min(processes, len(docs)))
    chunks = [docs[i::processes] for i in range(processes)]
    files = []
    for i, chunk in enumerate(chunks):
        f = work / f"members-{i}.yaml"
        f.write_text("---\n".join(chunk))
        files.append(f)
    started = time.monotonic()
    procs = []
    for f in files:
        p = subprocess.Popen(
            [str(cluster.args.controlplane / "kubectl"), "--kubeconfig", str(cluster.kubeconfig),
             "apply", "--server-side", "--field-manager", "bench", "-f", str(f)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        CHILDREN.append(p)
        procs.append(p)
    for p in procs:
        _, err = p.communicate(timeout=1800)
        CHILDREN.remove(p)
        if p.returncode != 0:
            raise RuntimeError(f"kubectl apply failed: {err[-500:]}")
    return time.monotonic() - started


# ---------------------------------------------------------------- scenarios


def floor_calls(members: int, invited: bool) -> dict:
    batches = math.ceil(members / BATCH_LIMIT)
    # The floor: CreateMembers + InviteMembers + one read per 50 accounts. For
    # organization accounts there is nothing to invite, so the strict floor is 2 per 50.
    return {"issue": 3 * batches, "strict": (3 if invited else 2) * batches}


def run_scenario(args, spec: dict, results: list) -> None:
    name, n, invited = spec["scenario"], spec["members"], spec["invited"]
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    log(f"=== {name}: {n} {'invited' if invited else 'organization'} members, operator {' '.join(spec['flags']) or '(defaults)'}")
    cluster = Cluster(args, args.work / "cluster")
    cluster.up()
    first = 200000000000 if invited else 300000000000
    accounts = [str(first + i + 1) for i in range(n)]
    config = {"rate": 10, "burst": 30}
    if invited:
        config["autoAcceptAfter"] = args.auto_accept_after
    else:
        config["orgAccounts"] = accounts
    emulator, emu_url = start_emulator(args, work, config)
    operator = None
    try:
        docs = [member_doc(f"m-{i + 1:05d}", a, invited) for i, a in enumerate(accounts)]
        create_s = create_members(cluster, work, docs, args.apply_processes)
        log(f"created {n} resources in {create_s:.1f} s ({args.apply_processes} concurrent kubectl apply --server-side)")
        watch = ReadyWatch(cluster.api, NAMESPACE)
        watch.start()
        names = {f"m-{i + 1:05d}" for i in range(n)}
        with watch.lock:
            while len(watch.known) < n:
                watch.lock.wait(1)
        modified_before = watch.modified
        cp_before = control_plane_cpu(cluster.state)
        operator, metrics_url, argv = start_operator(args, work, cluster, emu_url, spec["flags"])
        started = time.monotonic()
        rss = RssSampler(operator.pid)
        rss.start()
        done = watch.wait_ready(names, timeout=args.timeout)
        wall = (done - started) if done else None
        if done is None:
            log(f"TIMEOUT: {len(watch.ready)}/{n} Ready after {args.timeout} s")
        peak, cpu = proc_usage(operator.pid)
        cp_after = control_plane_cpu(cluster.state)
        series = scrape(metrics_url, save=work / "metrics.txt")
        requests = http_json(f"{emu_url}/_emulator/requests")
        (work / "emulator-requests.json").write_text(json.dumps(requests))
        result = summarize(spec, n, invited, wall, create_s, requests["counts"], series, peak, cpu,
                           watch, modified_before, argv)
        result["ready"] = len(watch.ready.keys() & names)
        result["control_plane_cpu_s"] = {k: round(cp_after[k] - cp_before[k], 1) for k in cp_after}
        try:
            events = cluster.api.request("GET", f"/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events?limit=1")
            result["events_in_namespace"] = len(events["items"]) + events["metadata"].get("remainingItemCount", 0)
        except Exception as e:  # informative only
            log(f"cannot count events: {e}")
        time.sleep(2)
        result["rss_mib_after_ready"] = rss.samples[-1][1] if rss.samples else None
        result["extra_operator_env"] = args.operator_env
        (work / "rss-samples.json").write_text(json.dumps(rss.samples))
        (work / "sample-object-history.json").write_text(json.dumps(watch.sample, indent=1))
        results.append(result)
        print_result(result)
        write_results(args, results)
        if spec.get("incremental"):
            time.sleep(args.settle)
            incremental(args, cluster, watch, operator, metrics_url, emu_url, requests["lastSeq"], argv, results)
        watch.stopping = True
        rss.stopping = True
    finally:
        if operator:
            stop(operator)
        stop(emulator)
        cluster.down()


def summarize(spec, n, invited, wall, create_s, counts, series, peak, cpu, watch, modified_before, argv) -> dict:
    calls = {op: c.get("ok", 0) for op, c in sorted(counts.items())}
    errors = {op: {k: v for k, v in c.items() if k != "ok"} for op, c in sorted(counts.items())}
    errors = {op: e for op, e in errors.items() if e}
    throttled_emulator = sum(c.get("LimitExceededException", 0) for c in counts.values())
    total = sum(sum(c.values()) for op, c in counts.items() if op not in ("AssumeRole", "GetCallerIdentity"))
    floor = floor_calls(n, invited)
    status_writes = metric_sum(series, "securityhub_operator_status_writes_total")
    return {
        "scenario": spec["scenario"],
        "members": n,
        "mode": spec["mode"],
        "wall_s": round(wall, 2) if wall is not None else None,
        "api_calls": calls,
        "api_calls_total": total,
        "api_errors": errors,
        "floor": floor,
        "calls_over_floor": round(total / floor["issue"], 2),
        "calls_over_strict_floor": round(total / floor["strict"], 2),
        "rate_bound_s": round(total / 10.0, 1),
        "throttled": {
            "emulator_429": throttled_emulator,
            "operator_saw_limit_exceeded": metric_sum(
                series, "securityhub_operator_aws_calls_total", outcome="LimitExceededException"),
            "resources_with_throttled_in_status": len(watch.throttled_objects),
        },
        "status_writes_per_member": round(status_writes / n, 3),
        "object_writes_per_member": round((watch.modified - modified_before) / n, 3),
        "ready_reasons_seen": dict(sorted(watch.reasons_seen.items())),
        "reconciles": {dict(ls).get("result", "?"): v for (nm, ls), v in series.items()
                       if nm == "securityhub_operator_reconciles_total"},
        "peak_rss_mib": round(peak, 1),
        "cpu_s": round(cpu, 2),
        "create_s": round(create_s, 1),
        "operator_args": argv[1:],
    }


def incremental(args, cluster, watch, operator, metrics_url, emu_url, since, argv, results) -> None:
    """With everything Ready, add one resource at a time and time each to Ready."""
    cases = [
        # Same call path as an organization account (Get, Create, Get): not in the
        # organization (the emulator allows 10,000 organization members and all are used),
        # with invite: false, so status Created is its end state.
        ("incremental", "400000000001", "  invite: false\n", "one new member (invite: false) among the Ready ones"),
        # The full invited path the operator can finish on its own: Get, Create, Get,
        # Invite, accept in the member account through STS, Get.
        ("incremental-accept", "400000000002",
         "  acceptInvitation:\n    roleArn: arn:aws:iam::400000000002:role/Accept\n    enableSecurityHub: true\n",
         "one new invited member that the operator accepts via acceptInvitation"),
    ]
    for scenario, account, extra, mode in cases:
        name = f"x-{account}"
        metrics_before = scrape(metrics_url)
        seq = http_json(f"{emu_url}/_emulator/requests?since={since}")["lastSeq"]
        doc = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "SecurityHubMember",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"accountId": account, "regions": [REGION]},
        }
        if "invite: false" in extra:
            doc["spec"]["invite"] = False
        else:
            doc["spec"]["email"] = f"sec+{account}@example.com"
            doc["spec"]["acceptInvitation"] = {"roleArn": f"arn:aws:iam::{account}:role/Accept",
                                               "enableSecurityHub": True}
        modified_before = watch.modified
        started = time.monotonic()
        cluster.api.request("POST", KubeApi.members_path(NAMESPACE), doc)
        done = watch.wait_ready({name}, timeout=120)
        wall = (done - started) if done else None
        time.sleep(1)
        delta = http_json(f"{emu_url}/_emulator/requests?since={seq}")
        since = delta["lastSeq"]
        counts: dict = {}
        for entry in delta["log"]:
            op = entry["operation"]
            counts.setdefault(op, {}).setdefault(entry["outcome"], 0)
            counts[op][entry["outcome"]] += 1
        after = scrape(metrics_url)
        peak, cpu = proc_usage(operator.pid)
        writes = (metric_sum(after, "securityhub_operator_status_writes_total")
                  - metric_sum(metrics_before, "securityhub_operator_status_writes_total"))
        calls = {op: c.get("ok", 0) for op, c in sorted(counts.items())}
        total = sum(sum(c.values()) for op, c in counts.items() if op not in ("AssumeRole", "GetCallerIdentity"))
        result = {
            "scenario": scenario,
            "members": 1,
            "mode": f"{mode} ({len(watch.ready) - 1} already Ready)",
            "wall_s": round(wall, 3) if wall is not None else None,
            "api_calls": calls,
            "api_calls_total": total,
            "throttled": {"emulator_429": sum(c.get("LimitExceededException", 0) for c in counts.values())},
            "status_writes_per_member": writes,
            "object_writes_per_member": watch.modified - modified_before,
            "peak_rss_mib": round(peak, 1),
            "cpu_s": round(cpu, 2),
            "operator_args": argv[1:],
        }
        results.append(result)
        print_result(result)
        write_results(args, results)


def print_result(r: dict) -> None:
    log(f"--> {r['scenario']}: wall {r['wall_s']} s, calls {r['api_calls_total']} {r['api_calls']}, "
        f"throttled {r['throttled']}, status writes/member {r['status_writes_per_member']}, "
        f"peak RSS {r['peak_rss_mib']} MiB, CPU {r['cpu_s']} s")


def write_results(args, results: list) -> None:
    doc = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": machine(),
        "settings": {
            "emulator": "--rate 10 --burst 30",
            "resync_pending": args.resync_pending,
            "auto_accept_after": args.auto_accept_after,
            "quick": args.quick,
            "finalizer_policy": args.finalizer_policy,
        },
        "scenarios": results,
    }
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(args.out)


def machine() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1), "cpu": model,
            "kernel": platform.release()}


def table(doc: dict) -> str:
    """The BENCHMARKS.md table for a results document."""
    rows = [
        "| scenario | members | wall s | AWS calls (by op) | calls / floor (issue 3x, strict) | 429s emulator / operator | status writes per member | object writes per member | peak RSS MiB | CPU s |",
        "|---|---:|---:|---|---|---|---:|---:|---:|---:|",
    ]
    for r in doc["scenarios"]:
        ops = ", ".join(f"{op} {n}" for op, n in r["api_calls"].items() if n)
        floor = r.get("floor")
        ratio = f"{r['calls_over_floor']} (floor {floor['issue']}), {r['calls_over_strict_floor']} (floor {floor['strict']})" if floor else "-"
        t = r["throttled"]
        throttled = f"{t.get('emulator_429', 0)} / {int(t.get('operator_saw_limit_exceeded', 0))}" if "operator_saw_limit_exceeded" in t else f"{t.get('emulator_429', 0)}"
        rows.append(
            f"| {r['scenario']} | {r['members']} | {r['wall_s']} | {r['api_calls_total']}: {ops} | {ratio} | {throttled} "
            f"| {r['status_writes_per_member']} | {r.get('object_writes_per_member', '-')} | {r['peak_rss_mib']} | {r['cpu_s']} |"
        )
    return "\n".join(rows)


ARGS = None


def main() -> int:
    global ARGS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="500 members per scenario instead of 1,000 / 10,000")
    p.add_argument("--binary", type=Path, default=ROOT / "target/release/securityhub-operator")
    p.add_argument("--cluster-bin", type=Path, default=ROOT / "target/debug/examples/cluster")
    p.add_argument("--controlplane", type=Path, default=None, help="dir with kubectl etc. (default: build.sh)")
    p.add_argument("--work", type=Path, default=ROOT / "target/bench")
    p.add_argument("--out", type=Path, default=ROOT / "bench/results.json")
    p.add_argument("--finalizer-policy", action=argparse.BooleanOptionalAction, default=True,
                   help="install deploy/finalizer-policy (as the chart does on Kubernetes 1.36+): the API server "
                        "adds the finalizer at create time")
    p.add_argument("--manifest", action="append", type=Path, default=[],
                   help="also apply this manifest after the CRD (repeatable)")
    p.add_argument("--resync-pending", default="5s")
    p.add_argument("--auto-accept-after", default="1s")
    p.add_argument("--apply-processes", type=int, default=8)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--settle", type=float, default=5, help="seconds to wait before the incremental case")
    p.add_argument("--operator-env", action="append", default=[], metavar="K=V",
                   help="extra environment for the operator (experiments, e.g. MALLOC_ARENA_MAX=2)")
    p.add_argument("--operator-flag", action="append", default=[], metavar="FLAG",
                   help="extra operator flag for every scenario (experiments, e.g. --concurrency=64)")
    p.add_argument("--members", type=int, default=0, help="override N for every scenario (smoke tests)")
    p.add_argument("--only", default="", help="comma-separated scenario names to run")
    p.add_argument("--command", default="make bench", help="recorded in results.json")
    p.add_argument("--table", action="store_true", help="print the Markdown table of --out and exit")
    args = p.parse_args()
    ARGS = args
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    if args.controlplane is None:
        args.controlplane = Path(subprocess.run([str(ROOT / "tests/controlplane/build.sh")], check=True,
                                                capture_output=True, text=True).stdout.strip())
    args.work.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    invited_n = 500 if args.quick else 1000
    org_n = 500 if args.quick else 10000
    if args.members:
        invited_n = org_n = args.members
    scenarios = [
        {"scenario": "invited", "members": invited_n, "invited": True, "flags": [],
         "mode": f"invited, emulator auto-accept after {args.auto_accept_after}, batched (--max-batch-size 50)"},
        {"scenario": "invited-per-member", "members": invited_n, "invited": True, "flags": ["--max-batch-size", "1"],
         "mode": f"invited, emulator auto-accept after {args.auto_accept_after}, --max-batch-size 1 (per-member baseline)"},
        {"scenario": "organization", "members": org_n, "invited": False, "flags": [], "incremental": True,
         "mode": "organization accounts, batched (--max-batch-size 50), cold start"},
    ]
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s["scenario"] in wanted]
    results: list = []
    try:
        for spec in scenarios:
            run_scenario(args, spec, results)
    finally:
        cleanup()
    by = {r["scenario"]: r for r in results}
    if "invited" in by and "invited-per-member" in by:
        ratio = by["invited-per-member"]["api_calls_total"] / max(1, by["invited"]["api_calls_total"])
        log(f"per-member / batched calls: {ratio:.1f}x")
    write_results(args, results)
    log(f"results in {args.out}")
    print(table(json.loads(args.out.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
