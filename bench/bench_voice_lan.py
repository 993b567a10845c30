"""Voice join -> audio over HTTPS on a LAN (issue 14; not in CI): ``serve --lan`` in a test
network namespace, Chromium instances (fake media) alternating between that namespace and a
second one joined by a veth pair, ``GET /ice-servers`` empty (host candidates only).

For each channel size (``--sizes 2,6``) and ``--rounds`` rounds: people join one after
another; a sample is the time from a joiner's click on "Join voice" to the first inbound
audio bytes from each person already there (so a round of n gives n(n-1)/2 samples). Then
the whole mesh must be ``connected`` with audio growing on every one of the n(n-1)
directions, a mute must stop one person's audio, and leaving must close every connection.
The 2-person figure is the baseline the larger sizes are compared with (ratio of p50s).
Needs root and iproute2; nothing leaves the machine. The machine's cores are shared with
every browser, the daemon and (on our machines) other work: absolute figures include that.

Run: .venv/bin/python bench/bench_voice_lan.py [--sizes 2,6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lan_voice import PORT, Lan, scenario  # noqa: E402
from netns import LanHost, Pair, available  # noqa: E402
from voice_browser import percentile  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2,6", help="channel sizes, comma-separated (default 2,6)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per size (default 3)")
    args = ap.parse_args()
    why = available()
    if why:
        print(f"bench_voice_lan: {why}", file=sys.stderr)
        return 1
    sizes = [int(x) for x in args.sizes.split(",")]
    base = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    config = base / "together.toml"
    config.write_text('[auth]\nargon2_memory_kib = 64\nargon2_time_cost = 1\n[ratelimit]\nenabled = false\n')
    rows = []
    with Pair(f"b{os.getpid() % 100000}", subnet=79) as pair:
        host = LanHost(pair, base / "data", config, PORT)
        host.start()
        lan = Lan(pair, host)
        try:
            for n in sizes:
                samples: list[float] = []
                mesh: list[float] = []
                for _ in range(args.rounds):
                    got = scenario(lan, n)
                    samples += got["join_ms"]
                    mesh.append(got["mesh_s"])
                rows.append((n, samples, max(mesh)))
        finally:
            lan.close()
            host.stop()
    base_p50 = percentile(rows[0][1], 50) if rows and rows[0][1] else None
    print(f"\n.venv/bin/python bench/bench_voice_lan.py --sizes {args.sizes} --rounds {args.rounds}")
    print("| people | samples | join->audio p50 ms | p99 ms | max ms | whole mesh connected (worst round) s | p50 vs first size |")
    print("|---|---|---|---|---|---|---|")
    for n, s, mesh_s in rows:
        p50 = percentile(s, 50)
        ratio = f"{p50 / base_p50:.2f}x" if base_p50 else "-"
        print(f"| {n} | {len(s)} | {p50:.0f} | {percentile(s, 99):.0f} | {max(s):.0f} | {mesh_s:.1f} | {ratio} |")
    print("every round: all pairs connected, audio growing both ways, mute stopped it, leave closed every connection")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
