#!/usr/bin/env python3
"""`make bench`: measures Spoke and writes target/bench/report.md as Markdown tables.

Numbers are reported, never asserted. Each section says how it was measured.
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cold_start(app: str, runs: int = 5) -> list[float]:
    """Process start to the UI's first IPC call (logged by the app as `UI ready elapsed_ms=N`),
    plus wall time from spawn to that log line."""
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            log = Path(d) / "logs" / "spoke.log"
            t0 = time.monotonic()
            proc = subprocess.Popen([app, "--data-dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = t0 + 60
                while time.monotonic() < deadline:
                    if log.exists():
                        m = re.search(r"UI ready elapsed_ms=(\d+)", log.read_text())
                        if m:
                            results.append((time.monotonic() - t0) * 1000.0)
                            break
                    time.sleep(0.01)
                else:
                    raise RuntimeError("the app never reported UI ready")
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    return results


def release_size() -> tuple[str, str]:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    t0 = time.monotonic()
    r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "spoke-app"], cwd=ROOT)
    took = time.monotonic() - t0
    binary = target / "release" / "spoke-app"
    if r.returncode != 0 or not binary.exists():
        return ("n/a", "release build failed")
    mib = binary.stat().st_size / (1024 * 1024)
    return (f"{mib:.1f} MiB", f"stripped release binary, frontend embedded; build took {took:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-release", action="store_true")
    args = ap.parse_args()

    lines = ["# Spoke benchmark report", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}.",
             f"Generated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}.", ""]

    starts = cold_start(args.app)
    lines += ["## App start", "",
              "Spawn of the debug binary under Xvfb until the UI's first IPC call reaches Rust (first paint done, script running).", "",
              "| runs | median | min | max |", "|---:|---:|---:|---:|",
              f"| {len(starts)} | {statistics.median(starts):.0f} ms | {min(starts):.0f} ms | {max(starts):.0f} ms |", ""]

    if args.skip_release:
        size, note = "not measured", "--skip-release given"
    else:
        size, note = release_size()
    lines += ["## Release size", "", "| artifact | size | note |", "|---|---:|---|",
              f"| spoke-app (release) | {size} | {note} |", "",
              "A `.deb` bundle is not built here: it needs the Tauri CLI's bundler on top of the release build;"
              " the binary above is what the bundle wraps.", ""]

    extra = Path(args.out).parent / "sections"
    if extra.is_dir():
        for part in sorted(extra.glob("*.md")):
            lines += [part.read_text().rstrip(), ""]

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
