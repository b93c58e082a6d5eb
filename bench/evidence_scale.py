"""Evidence at scale: a certificate's size and its offline check when the ledger's Merkle log holds 1k, 1M and 10M
events (issue 18).

A real certificate (a small `lethe demo` workspace built here) is re-issued at each tree size, signed by the same
workspace key: the workspace's own events are the first leaves, the rest are random 32-byte leaf hashes standing
in for other events (only their number matters to a proof: an audit path holds about log2(n) hashes). Per size:
the certificate's bytes (the JSON envelope), its audit-path hashes, the log's time to hash the tree, prove the
request's events and sign the checkpoint, and `verify/standalone.py`'s time, in a fresh process (wall, with
interpreter start) and in this one (the checks alone, median of 20).

    python bench/evidence_scale.py                       # 1k, 1M and 10M events
    python bench/evidence_scale.py --sizes 1000 100000 --no-append
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

from ledger import Ledger, SignedCheckpoint  # noqa: E402
from ledger._merkle import inclusion_proofs, root_hash  # noqa: E402
from verify._report import CERTIFICATE_PAYLOAD_TYPE, save_envelope, sign_payload  # noqa: E402
from verify.standalone import parse_vkey, verify_certificate_bytes  # noqa: E402

STANDALONE = REPO / "verify" / "standalone.py"


def demo_workspace(root: Path) -> Path:
    """A small certified workspace: `lethe demo` on 200 users; returns its certificate's JSON path."""
    subprocess.run([sys.executable, "-m", "ui.cli", "demo", "-w", str(root), "--users", "200", "--items", "150",
                    "--epochs", "5"], check=True, capture_output=True, cwd=REPO)
    return next((root / "certificates").glob("*.json"))


def reissue(statement: dict[str, Any], ledger: Ledger, size: int, out: Path) -> dict[str, float]:
    """The certificate's statement at a log of ``size`` leaves, signed and saved to ``out``; the log's timings."""
    real = ledger.log.leaf_hashes()
    started = time.perf_counter()
    filler = os.urandom(32 * (size - len(real)))
    leaves = real + [filler[i:i + 32] for i in range(0, len(filler), 32)]
    generated = time.perf_counter()
    head = SignedCheckpoint.sign(ledger.workspace.signer, size, root_hash(leaves))
    hashed = time.perf_counter()
    predicate = json.loads(json.dumps(statement["predicate"]))
    bundle = predicate["inclusion_proof"]
    bundle["checkpoint"] = head.to_note()
    paths = inclusion_proofs([entry["index"] for entry in bundle["events"]], leaves)
    for entry, path in zip(bundle["events"], paths):
        entry["audit_path"] = [base64.b64encode(node).decode() for node in path]
    proved = time.perf_counter()
    predicate["ledger_checkpoint"] = {"note": head.to_note(), "root": head.root.hex(), "tree_size": size}
    save_envelope(sign_payload({**statement, "predicate": predicate}, CERTIFICATE_PAYLOAD_TYPE,
                               ledger.workspace.signer), out)
    return {"leaves_s": generated - started, "root_s": hashed - generated, "prove_s": proved - hashed,
            "path_hashes": sum(len(e["audit_path"]) for e in bundle["events"]), "events": len(bundle["events"])}


def check(certificate: Path, vkey: Path) -> dict[str, float]:
    """The standalone verifier's time: wall in a fresh process, and the checks alone here (median of 20)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(STANDALONE), str(certificate), "--vkey", str(vkey)],
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    data, key = certificate.read_bytes(), parse_vkey(vkey.read_text())
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        verify_certificate_bytes(data, key)
        runs.append(time.perf_counter() - started)
    return {"process_s": wall, "checks_ms": statistics.median(runs) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000, 10_000_000])
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lethe-evidence-bench-") as tmp:
        root = Path(tmp) / "ws"
        print("building a certified demo workspace …", flush=True)
        original = demo_workspace(root)
        ledger = Ledger.open(root)
        statement = json.loads(base64.b64decode(json.loads(original.read_text())["payload"]))
        vkey = root / "keys" / "signing.vkey"
        for size in sorted(args.sizes):
            out = Path(tmp) / f"cert-{size}.json"
            print(f"{size:,} events …", flush=True)
            figures = reissue(statement, ledger, size, out)
            figures.update(check(out, vkey), size=size, bytes=out.stat().st_size)
            print(figures, flush=True)
            rows.append(figures)
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)
    section = "\n".join([
        f"## Evidence at scale — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run (PSI).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** one `lethe demo` certificate ({rows[0]['events']} request events proven), re-issued at each log "
        "size with the workspace's key; leaves beyond the workspace's own events are random hashes.",
        "- Log side = hash the tree (root), prove every request event (audit paths) and sign the checkpoint, in "
        "Python (`ledger._merkle`: the root, then all the request's paths in one more pass). Check = `verify/standalone.py` (DSSE, in-toto, C2SP note, every inclusion path).",
        "",
        "| ledger events | certificate | audit-path hashes | log: root | log: proofs | check, fresh process | "
        "check alone |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['size']:,} | {r['bytes'] / 1024:.1f} KiB | {r['path_hashes']} | {r['root_s']:.2f} s | "
          f"{r['prove_s']:.2f} s | {r['process_s'] * 1000:.0f} ms | {r['checks_ms']:.1f} ms |" for r in rows),
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
