"""Attachment upload throughput, the daemon's peak RSS during a 50 MB upload, and the
thumbnail time of a 12 MP JPEG (issue 10).

Starts, as subprocesses on loopback, the bare quart-trio streaming endpoint
(bench/baseline_upload.py: the framework ceiling) and the real daemon, and uploads the
same multipart bodies (1 MB and 50 MB files) to each in interleaved rounds, so load from
elsewhere on this shared machine hits both alike. ``cp`` of the same bytes (plus sync) is
printed for scale. The daemon's RSS is sampled every 5 ms during each 50 MB upload and
compared with its RSS just before. Not part of CI.

    .venv/bin/python bench/bench_attachments.py [--rounds 5] [--small 1000000] [--large 50000000]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_post import free_port, rss_mb, wait_up  # noqa: E402

PY = sys.executable
ROOT = Path(__file__).resolve().parents[1]
BOUNDARY = "benchboundary7MA4YWxkTrZu0gW"


def body_for(size: int, salt: int) -> bytes:
    """A multipart body with one ``files`` part of ``size`` bytes (a zip header, then
    random bytes changed by ``salt`` so every upload is a new blob, no dedup)."""
    payload = bytearray(b"PK\x03\x04" + os.urandom(size - 4))
    payload[4:12] = salt.to_bytes(8, "big")
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f{salt}.zip\"\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    return head + bytes(payload) + f"\r\n--{BOUNDARY}--\r\n".encode()


def start(cmd: list[str], env: dict[str, str], url: str, path: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_up(url, path)
    return p


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.005)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--small", type=int, default=1_000_000)
    ap.add_argument("--large", type=int, default=50_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-att-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    base_port, daemon_port = free_port(), free_port()
    base_url, daemon_url = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{daemon_port}"
    (tmp / "up").mkdir()
    conf = tmp / "t.toml"
    conf.write_text(f'[server]\nport = {daemon_port}\ndata_dir = "{tmp / "data"}"\n'
                    '[ratelimit]\nenabled = false\n[attachments]\nmin_free_disk_bytes = 0\n')
    procs = [
        start([PY, "-m", "hypercorn", "-k", "trio", "-b", f"127.0.0.1:{base_port}", "bench.baseline_upload:app"],
              {"DIR": str(tmp / "up")}, base_url, "/health"),
        start([PY, "-m", "together_server", "serve", "--config", str(conf)], {}, daemon_url, "/health"),
    ]
    daemon_pid = procs[1].pid
    try:
        c = httpx.Client(timeout=120)
        tok = c.post(daemon_url + "/auth/register", json={"username": "bench", "password": "correct horse"}).json()
        auth = {"Authorization": f"Bearer {tok['access_token']}"}
        sid = c.post(daemon_url + "/servers", json={"name": "b"}, headers=auth).json()["id"]
        cid = c.post(f"{daemon_url}/servers/{sid}/channels", json={"name": "b", "type": "text"}, headers=auth).json()["id"]
        ctype = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        results: dict[tuple[str, int], list[float]] = {}
        peaks: list[tuple[float, float]] = []
        salt = 0
        for _ in range(args.rounds):
            for size in (args.small, args.large):
                for target in ("baseline", "daemon"):
                    salt += 1
                    body = body_for(size, salt)
                    if target == "baseline":
                        t0 = time.perf_counter()
                        r = c.post(base_url + "/upload", content=body, headers=ctype)
                        took = time.perf_counter() - t0
                    else:
                        mid = c.post(f"{daemon_url}/channels/{cid}/messages", json={"content": "f"},
                                     headers=auth).json()["id"]
                        idle = rss_mb(daemon_pid)
                        with RssSampler(daemon_pid) as sampler:
                            t0 = time.perf_counter()
                            r = c.post(f"{daemon_url}/messages/{mid}/attachments", content=body,
                                       headers={**auth, **ctype})
                            took = time.perf_counter() - t0
                        if size == args.large:
                            peaks.append((idle, sampler.peak))
                    assert r.status_code == 201, (target, r.status_code, r.text[:200])
                    results.setdefault((target, size), []).append(size / took / 1e6)
                    del body
        cp_rates = []
        for size in (args.small, args.large):
            src = tmp / f"src{size}"
            src.write_bytes(os.urandom(size))
            t0 = time.perf_counter()
            subprocess.run(["cp", str(src), str(tmp / f"dst{size}")], check=True)
            subprocess.run(["sync", "-f", str(tmp / f"dst{size}")], check=True)
            cp_rates.append((size, size / (time.perf_counter() - t0) / 1e6))
    finally:
        for p in procs:
            p.terminate()
            p.wait(20)
    thumb = thumbnail_times(tmp)
    print(f"upload throughput, MB/s (median of {args.rounds} interleaved rounds; shared 2-core machine)")
    print(f"{'file':>10} | {'bare quart-trio':>15} | {'daemon':>8} | {'ratio':>6} | {'cp + sync':>9}")
    for size, cp_rate in cp_rates:
        b = statistics.median(results[("baseline", size)])
        d = statistics.median(results[("daemon", size)])
        print(f"{size / 1e6:>8.0f}MB | {b:>15.1f} | {d:>8.1f} | {d / b:>5.2f}x | {cp_rate:>9.1f}")
    worst = max(peaks, key=lambda p: p[1] - p[0])
    print(f"daemon RSS during a {args.large / 1e6:.0f} MB upload: idle {worst[0]:.1f} MB, peak {worst[1]:.1f} MB "
          f"(+{worst[1] - worst[0]:.1f} MB, worst of {len(peaks)}; median +"
          f"{statistics.median(p[1] - p[0] for p in peaks):.1f} MB)")
    print(f"12 MP JPEG (4000x3000, EXIF, orientation 6): thumbnail alone {thumb[0] * 1000:.0f} ms, "
          f"whole upload check (probe + metadata strip/re-encode + thumbnail) {thumb[1] * 1000:.0f} ms "
          "(median of 5)")


def thumbnail_times(tmp: Path) -> tuple[float, float]:
    from PIL import Image

    from together_server.files import images

    im = Image.effect_noise((4000, 3000), 64).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    src = tmp / "12mp.jpg"
    src.write_bytes(buf.getvalue())
    work = tmp / "work"
    work.mkdir()
    alone, whole = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        images.make_thumbnail(src, work)
        alone.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        info = images.probe_image(src, 40_000_000)
        images.prepare_image(src, info, work)
        whole.append(time.perf_counter() - t0)
    return statistics.median(alone), statistics.median(whole)


if __name__ == "__main__":
    main()
