"""Peak memory of ``emotrace analyze`` on a 60-minute recording against a 1-minute one.

    python bench/memory.py [--long-minutes 60] [--json out.json]

Each analysis runs in a fresh process that reports its own peak RSS (``ru_maxrss``), so the two
figures do not contaminate each other. Memory must not grow with length: target ratio <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.inputs import looped_720p

TARGET_RATIO = 1.2
_CHILD = """
import resource, sys
from pathlib import Path
from emotrace.cli.analyze import run_analyze
code = run_analyze(Path(sys.argv[1]), json_out=Path(sys.argv[2]))
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
"""


def peak_rss_mb(video: Path, json_out: Path) -> tuple[float, float]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(video), str(json_out)], capture_output=True, text=True, check=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("PEAK_RSS_KB"))
    return int(line.split()[1]) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short-minutes", type=float, default=1.0)
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "emotrace-bench")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    short = looped_720p(args.workdir, args.short_minutes)
    long = looped_720p(args.workdir, args.long_minutes)
    short_mb, short_s = peak_rss_mb(short, args.workdir / "short.json")
    long_mb, long_s = peak_rss_mb(long, args.workdir / "long.json")
    ratio = long_mb / short_mb
    print(
        f"peak RSS: {args.short_minutes:g}-min input {short_mb:.0f} MB ({short_s:.0f} s) | "
        f"{args.long_minutes:g}-min input {long_mb:.0f} MB ({long_s:.0f} s) | ratio {ratio:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "short_mb": round(short_mb, 1),
                    "long_mb": round(long_mb, 1),
                    "ratio": round(ratio, 3),
                    "short_s": round(short_s, 1),
                    "long_s": round(long_s, 1),
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
