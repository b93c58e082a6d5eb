"""The erasure API under load (issue 22): latency of filing and of status calls with 50 concurrent clients against a
real `lethe serve` on loopback, and requests completed per hour by one and by two workers.

A fresh workspace (the demo's synthetic data, or ML-1M with ``--data ml-1m``; SISA) gets an integration key. Latency: 50 client threads each file
one OpenDSR erasure and then ask its status ``--polls`` times, while the server's worker runs what they filed (as
in production). Throughput: ``--requests`` whole-subject erasures queued at once, the policy deferring verification
to the audit window (`audit.defer_verification`, the setting a busy deployment runs), served by one worker and
then, on a fresh copy, by two; requests per hour = requests / time until the last is erased.

    python bench/api_load.py                     # the demo data
    python bench/api_load.py --data ml-1m        # ../shared/data/ml-1m
    python bench/api_load.py --clients 20 --requests 10 --no-append
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

from ledger import Ledger  # noqa: E402

LETHE = str(Path(sys.executable).parent / "lethe")
DATA_LINES = {"demo": "`lethe demo`'s synthetic set (1,000 users, SISA 5 shards, BPR-MF)",
              "ml-1m": "ML-1M (implicit, 6,040 users), SISA 5 shards, BPR-MF with its default epochs"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(method: str, url: str, key: str, payload: dict[str, Any] | None = None) -> tuple[int, float]:
    """One HTTP call: (status, seconds)."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.perf_counter() - started


def opendsr(subject: str) -> dict[str, Any]:
    return {"subject_request_id": str(uuid.uuid4()), "subject_request_type": "erasure",
            "subject_identities": [{"identity_type": "lethe_subject_id", "identity_value": subject}],
            "submitted_time": "2026-12-03T10:00:00Z", "api_version": "2.0"}


def serving(root: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    server = subprocess.Popen([LETHE, "serve", "-w", str(root), "--port", str(port), "--workers", str(workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    return server, f"http://127.0.0.1:{port}"


def wait_up(base: str, key: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if call("GET", f"{base}/opendsr/v1/discovery", key)[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("lethe serve did not come up")
        time.sleep(0.3)


def latency(root: Path, key: str, subjects: list[str], polls: int) -> dict[str, list[float]]:
    server, base = serving(root, 1)
    timings: dict[str, list[float]] = {"file": [], "status": []}
    lock = threading.Lock()
    try:
        wait_up(base, key)

        def client(subject: str) -> None:
            body = opendsr(subject)
            status, seconds = call("POST", f"{base}/opendsr/v1/requests", key, body)
            assert status == 201, status
            mine = []
            for _ in range(polls):
                status, took = call("GET", f"{base}/opendsr/v1/requests/{body['subject_request_id']}", key)
                assert status == 200, status
                mine.append(took)
            with lock:
                timings["file"].append(seconds)
                timings["status"].extend(mine)

        threads = [threading.Thread(target=client, args=(s,)) for s in subjects]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=120)
    return timings


def throughput(template: Path, key: str, subjects: list[str], workers: int, where: Path) -> float:
    """Requests erased per hour by ``workers`` workers, the policy deferring verification to the audit."""
    root = where / f"throughput-{workers}"
    shutil.copytree(template, root)
    server, base = serving(root, workers)
    try:
        wait_up(base, key)
        started = time.perf_counter()
        for subject in subjects:
            assert call("POST", f"{base}/opendsr/v1/requests", key, opendsr(subject))[0] == 201
        ledger = Ledger.open(root)
        while True:
            states = [r.state for r in ledger.requests()]
            if states.count("data_erased") + states.count("certified") >= len(subjects):
                break
            if any(s in ("failed", "rejected") for s in states):
                raise RuntimeError(f"a request ended {states}")
            time.sleep(1.0)
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=120)
    return len(subjects) / elapsed * 3600


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--polls", type=int, default=5, help="status calls per client after filing")
    parser.add_argument("--requests", type=int, default=20, help="requests queued for the throughput runs")
    parser.add_argument("--data", choices=("demo", "ml-1m"), default="demo",
                        help="demo: `lethe demo`'s synthetic set; ml-1m: ../shared/data/ml-1m with a SISA deployment")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lethe-api-bench-") as tmp:
        template = Path(tmp) / "template"
        if args.data == "demo":
            subprocess.run([LETHE, "demo", "-w", str(template)], check=True, capture_output=True, cwd=REPO)
        else:
            for step in (["ingest", "--source", "ml-1m", "--path", str(REPO.parent / "shared" / "data" / "ml-1m")],
                         ["train", "--method", "sisa", "--shards", "5"]):
                subprocess.run([LETHE, *step, "-w", str(template)], check=True, capture_output=True, cwd=REPO)
        key = subprocess.run([LETHE, "apikey", "add", "bench", "-w", str(template)], check=True,
                             capture_output=True, text=True).stdout.strip()
        policy = Path(tmp) / "deferred.yaml"
        policy.write_text("name: deferred\naudit:\n  defer_verification: true\n")
        subprocess.run([LETHE, "policy", "activate", str(policy), "-w", str(template)], check=True,
                       capture_output=True)
        frame = Ledger.open(template).store.subjects_frame().sort_values("subject")
        subjects = [str(s) for s in frame["subject"]]
        print("latency …", flush=True)
        loaded = Path(tmp) / "latency"
        shutil.copytree(template, loaded)
        timings = latency(loaded, key, subjects[: args.clients], args.polls)
        rates = {}
        for workers in (1, 2):
            print(f"throughput, {workers} worker(s) …", flush=True)
            rates[workers] = throughput(template, key, subjects[args.clients: args.clients + args.requests],
                                        workers, Path(tmp))
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)
    ms = {kind: (statistics.median(v) * 1000, percentile(v, 0.99) * 1000) for kind, v in timings.items()}
    section = "\n".join([
        f"## API under load — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run (PSI).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** {DATA_LINES[args.data]}; `lethe serve` on loopback, its worker running the filed requests "
        f"meanwhile; throughput with `audit.defer_verification: true`.",
        "",
        "| figure | measured |",
        "|---|---:|",
        f"| file an erasure (POST /opendsr/v1/requests), {args.clients} concurrent clients: p50 / p99 | "
        f"{ms['file'][0]:.0f} / {ms['file'][1]:.0f} ms |",
        f"| status (GET /opendsr/v1/requests/…), {args.clients} clients × {args.polls}: p50 / p99 | "
        f"{ms['status'][0]:.0f} / {ms['status'][1]:.0f} ms |",
        f"| erasures per hour, 1 worker ({args.requests} queued) | {rates[1]:.0f} |",
        f"| erasures per hour, 2 workers ({args.requests} queued) | {rates[2]:.0f} ({rates[2] / rates[1]:.2f}×) |",
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
