"""Keep N cores busy for a bounded time, to check that the test suite holds on a loaded machine.

    python bench/busy.py --cores 2 --seconds 1500 &
    QOSTUI_REQUIRE_LAB=1 PYTHONPATH=$PWD/src nice -n 5 python -m pytest -q tests

One process per core spins on arithmetic until the time is up (it always ends by itself: --seconds is
required to be finite and at most a day), then prints how long it ran and how many loops each did.
Ctrl-C or SIGTERM stops it early. It only burns CPU: no files, no network, bounded memory.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
import time

MAX_SECONDS = 86_400.0


def spin(until: float, counter: mp.Value) -> None:  # type: ignore[valid-type]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    loops = 0
    x = 1.0
    while time.monotonic() < until:
        for _ in range(10_000):
            x = (x * 1.000001 + 0.5) % 1e6
        loops += 1
        counter.value = loops  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2, help="busy processes, one per core (default 2)")
    parser.add_argument("--seconds", type=float, required=True, help=f"how long (at most {MAX_SECONDS:g})")
    args = parser.parse_args(argv)
    if not 1 <= args.cores <= (os.cpu_count() or 1) * 4:
        parser.error(f"--cores must be 1..{(os.cpu_count() or 1) * 4}, got {args.cores}")
    if not 0 < args.seconds <= MAX_SECONDS:  # also refuses nan and inf
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:g}], got {args.seconds}")
    started = time.monotonic()
    until = started + args.seconds
    counters = [mp.Value("q", 0) for _ in range(args.cores)]
    procs = [mp.Process(target=spin, args=(until, c), daemon=True) for c in counters]
    for p in procs:
        p.start()

    def stop(signum: int, frame: object) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join(args.seconds + 60)  # bounded even if a child ignored the clock
        if p.is_alive():
            p.kill()
            p.join(10)
    ran_s = time.monotonic() - started
    loops = [c.value for c in counters]  # type: ignore[attr-defined]
    print(f"busy: {args.cores} core(s) for {ran_s:.1f}s, loops per core {loops}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
