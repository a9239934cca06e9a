"""``dltv bench`` rows for the regions area: exact region counting of the triangle network.

Each row counts the **network** (``dltv regions count --depth d --law --peaks ...``, through
the CLI's own entry point) in a fresh Python process, so that ``seconds`` includes the
start-up a user waits for and ``peak_mb`` is that process's peak resident memory
(``VmHWM`` of /proc/self/status at its end, where Linux has it, else ``ru_maxrss``:
interpreter, numpy and the counter together).  The
breakpoint generator is timed separately, in this process, only for the ratio.
``cpu_seconds`` (the process's user + system time) shows the cost on a shared machine,
where ``seconds`` also counts waiting for a core.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from fractions import Fraction

import dltv.numerics.regions_exact as rx

TARGET_DEPTH = 20
TARGET_SECONDS = 10.0
TARGET_MB = 1024.0
DEPTHS = {"quick": (12, 20), "full": (12, 16, 20)}

# ru_maxrss would count the parent's memory at fork time; VmHWM is this program's own peak
_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from dltv.checks.cli import main
t1 = time.perf_counter()
code = main(sys.argv[1:])
t2 = time.perf_counter()
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    peak_mb = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2 ** 20 if sys.platform == "darwin" else 1024)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "import_seconds": t1 - t0, "count_seconds": t2 - t1, "peak_mb": peak_mb,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime, "torch_loaded": "torch" in sys.modules}))
"""


def _peaks(rnd: random.Random, n: int) -> list[Fraction]:
    return [Fraction(rnd.randint(10, 90), 100) for _ in range(n)]


def _count_in_subprocess(depth: int, peaks: list[Fraction]) -> dict:
    """Run the CLI count in a fresh interpreter: wall seconds, peak RSS (MB) and its JSON output."""
    argv = ["regions", "count", "--depth", str(depth), "--law", "--peaks", ",".join(map(str, peaks)), "--json"]
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True)
    wall = time.perf_counter() - t
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        raise RuntimeError(f"regions count --depth {depth} failed (exit {proc.returncode}): {proc.stderr[-300:]!r}")
    return dict(json.loads(lines[-2]), **json.loads(lines[-1]), wall_seconds=wall)


def run(quick: bool, device: str) -> list[dict]:
    """The network count at depths 12, 16 and 20 (quick: 12 and 20), each against its target.

    Counting is exact integer arithmetic on the CPU, so ``device`` is not used.  ``ok``: the
    count is 2^d and, for depth 20, the command took <= 10 s (start-up included) in <= 1 GB.
    """
    rows = []
    for d in DEPTHS["quick" if quick else "full"]:
        peaks = _peaks(random.Random(2311 + d), d + 1)
        got = _count_in_subprocess(d, peaks)
        t = time.perf_counter()
        gen_regions = rx.triangle_region_count(peaks[:d])
        gen_sec = time.perf_counter() - t
        regions = got["activation_regions"]
        exact = regions == got["affine_pieces"] == gen_regions == 2 ** d
        if d == TARGET_DEPTH:
            target = f"<= {TARGET_SECONDS:g} s and <= {TARGET_MB / 1024:g} GB, 2^d regions"
            ok = exact and got["wall_seconds"] <= TARGET_SECONDS and got["peak_mb"] <= TARGET_MB
        else:
            target = "2^d regions"
            ok = exact
        rows.append({"bench": "regions.count", "case": f"network depth={d} law", "seconds": got["wall_seconds"],
                     "count_seconds": got["count_seconds"], "cpu_seconds": got["cpu_seconds"],
                     "peak_mb": got["peak_mb"], "regions": regions,
                     "us_per_region": 1e6 * got["count_seconds"] / regions, "generator_seconds": gen_sec,
                     "ratio_to_generator": got["count_seconds"] / gen_sec, "torch_loaded": got["torch_loaded"],
                     "target": target, "ok": bool(ok and not got["torch_loaded"])})
    return rows
