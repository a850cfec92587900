"""Start-up: the wall time of `diss --help`, `diss generate --help` and an argument error, each in a fresh process
(median of --repeats runs), and which heavy modules a plain `import diss.cli` pulls in (none should).

    python benchmarks/startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "diffusers", "accelerate", "gradio", "openvino")
COMMANDS = {
    "diss --help": ["--help"],
    "diss generate --help": ["generate", "--help"],
    "diss generate --steps 0 (argument error)": ["generate", "--steps", "0", "--out", "o.png"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, argv in COMMANDS.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "diss", *argv], capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        print(f"{name:<44} {statistics.median(times):6.2f} s (median of {args.repeats})")
    probe = f"import sys, diss.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"heavy modules imported by `import diss.cli`: {loaded or 'none'}")


if __name__ == "__main__":
    main()
