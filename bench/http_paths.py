"""Keep or drop the hand-written HTTP paths: our keep-alive pool and Shared Key Put Blob against the libraries.

`stores/_http.py` (a keep-alive pool on `http.client`) serves GCS ranged reads and Azure Put
Blob, and `stores/azure_blob._SharedKeyPut` signs that Put Blob itself, both for speed. The
rule: keep them only while the libraries stay more than 5% slower on the same workloads;
otherwise the libraries replace them. So each case runs the project's own store call
(`read_range`, `put`) with one part swapped and nothing else changed:

- ``ours``: the store as shipped;
- ``urllib3``: the same requests through urllib3's connection pool (already a dependency),
  i.e. `_http.ConnectionPool` replaced by `urllib3.HTTPConnectionPool` behind the same calls;
- ``sdk`` (Azure puts only): the Azure SDK's own `upload_blob`, with its own signing policy,
  pipeline and transport (the store's fallback path).

Workloads, on the emulators (fake-gcs-server, Azurite) on loopback, eight threads as the copy
engine uses: 2,000 reads / 1,000 puts of 4 KiB objects (where per-request overhead shows) and
16 reads / puts of 16 MiB (where copies of the payload show). The metric is this process's CPU
seconds per request (the emulators run in other processes; CPU is what the client path costs
and what a gateway VM pays for), with wall time beside it. Rounds interleave the variants and
the reported ratio is the median over rounds of variant / ours.

Run: `python -m bench.http_paths` (results: bench/results/http_paths.json).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_sky.devtools.emulators import running_emulators
from airflow_provider_sky.stores._http import Response

ROUNDS = int(os.environ.get("SKY_BENCH_HTTP_ROUNDS", "5"))
THREADS = 8
SMALL, SMALL_COUNT = 4096, int(os.environ.get("SKY_BENCH_HTTP_SMALL", "1000"))
LARGE, LARGE_COUNT = 16 << 20, 16
KEEP_THRESHOLD = 1.05  # a library within 5% of ours replaces ours
RESULTS = Path(__file__).parent / "results" / "http_paths.json"


class Urllib3Pool:
    """urllib3's pool behind `_http.ConnectionPool`'s interface: the swap the rule asks about."""

    def __init__(self, base_url: str, size: int) -> None:
        import urllib3

        parts = urlsplit(base_url)
        self.scheme, self.host, self.port = parts.scheme, parts.hostname or "", parts.port
        self.base_path = parts.path.rstrip("/")
        self._pool = urllib3.connection_from_url(base_url, maxsize=size, block=False, retries=False)

    def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | memoryview | None = None
    ) -> Response:
        reply = self._pool.request(method, path, body=body, headers=dict(headers), retries=False,
                                   preload_content=True, decode_content=False)  # fmt: skip
        return Response(reply.status, reply.headers, reply.data)  # type: ignore[arg-type]

    def close(self) -> None:
        self._pool.close()


def _timed(calls: list[Callable[[], Any]]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) to run every call on the engine's thread count."""
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in pool.map(lambda call: call(), calls):
            pass
    return time.process_time() - cpu, time.perf_counter() - wall


def _gcs_case(emulators: Any, size: int, count: int) -> dict[str, Callable[[], tuple[float, float]]]:
    store = emulators.gcs.open_store()
    bucket = f"http-gs-{size}"
    emulators.gcs.create_bucket(bucket)
    data = os.urandom(size)
    keys = [f"o{i}" for i in range(min(count, 200))]  # reads cycle over these
    for key in keys:
        store.put(bucket, key, data, hashlib.md5(data).digest(), {})
    ours = store._media
    assert ours is not None, "the GCS store reads over its own pool (no proxy in the environment)"
    theirs = Urllib3Pool(f"{ours.scheme}://{ours.host}:{ours.port}{ours.base_path}", THREADS)

    def run(pool: Any) -> Callable[[], tuple[float, float]]:
        def once() -> tuple[float, float]:
            store._media = pool
            cycle = [keys[i % len(keys)] for i in range(count)]
            calls = [lambda k=k: _expect(store.read_range(bucket, k, 0, size), size) for k in cycle]
            return _timed(calls)

        return once

    return {"ours": run(ours), "urllib3": run(theirs)}


def _azure_case(emulators: Any, size: int, count: int) -> dict[str, Callable[[], tuple[float, float]]]:
    store = emulators.azure.open_store()
    bucket = f"http-az-{size}"
    emulators.azure.create_bucket(bucket)
    data = os.urandom(size)
    md5 = hashlib.md5(data).digest()
    direct = store._direct_put
    assert direct is not None, "Azurite's account key makes the store sign Put Blob itself"
    ours = direct.pool
    theirs = Urllib3Pool(f"{ours.scheme}://{ours.host}:{ours.port}{ours.base_path}", THREADS)

    def run(variant: str) -> Callable[[], tuple[float, float]]:
        def once() -> tuple[float, float]:
            store._direct_put = None if variant == "sdk" else direct
            direct.pool = theirs if variant == "urllib3" else ours
            calls = [lambda i=i: store.put(bucket, f"{variant}/o{i % 200}", data, md5, {}) for i in range(count)]
            return _timed(calls)

        return once

    return {"ours": run("ours"), "urllib3": run("urllib3"), "sdk": run("sdk")}


def _expect(got: bytes, size: int) -> None:
    if len(got) != size:
        raise AssertionError(f"read {len(got)} bytes, expected {size}")


def _measure(variants: dict[str, Callable[[], tuple[float, float]]], count: int) -> dict[str, Any]:
    for run in variants.values():  # warm up connections, caches and the emulator
        run()
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for round_index in range(ROUNDS):
        order = list(variants)
        if round_index % 2:
            order.reverse()  # interleave, and alternate who goes first
        for name in order:
            per_round[name].append(variants[name]())
    out: dict[str, Any] = {"requests_per_round": count, "rounds": ROUNDS}
    for name, samples in per_round.items():
        out[name] = {
            "cpu_us_per_request": round(statistics.median(c for c, _ in samples) / count * 1e6, 1),
            "wall_s": round(statistics.median(w for _, w in samples), 3),
        }
        if name != "ours":
            out[name]["cpu_ratio_vs_ours"] = round(
                statistics.median(c / o for (c, _), (o, _) in zip(samples, per_round["ours"], strict=True)), 3)
            out[name]["wall_ratio_vs_ours"] = round(
                statistics.median(w / o for (_, w), (_, o) in zip(samples, per_round["ours"], strict=True)), 3)
    return out


def main() -> int:
    cases: dict[str, Any] = {}
    with running_emulators() as emulators:
        plan = {
            "gcs_read_4k": (_gcs_case, SMALL, SMALL_COUNT * 2),
            "gcs_read_16m": (_gcs_case, LARGE, LARGE_COUNT),
            "azure_put_4k": (_azure_case, SMALL, SMALL_COUNT),
            "azure_put_16m": (_azure_case, LARGE, LARGE_COUNT),
        }
        only = os.environ.get("SKY_BENCH_HTTP_CASES", "").split(",")
        for name, (make, size, count) in plan.items():
            if only != [""] and name not in only:
                continue
            cases[name] = _measure(make(emulators, size, count), count)
            print(name, json.dumps(cases[name]), flush=True)
    if RESULTS.exists():  # a run of some cases keeps the others' last figures
        cases = json.loads(RESULTS.read_text()).get("cases", {}) | cases
    verdict = {}
    for part, names, library in (("_http.ConnectionPool", list(cases), "urllib3"),
                                 ("_SharedKeyPut", ["azure_put_4k", "azure_put_16m"], "sdk")):  # fmt: skip
        ratios = {n: cases[n][library]["cpu_ratio_vs_ours"] for n in names if n in cases}
        keep = any(r > KEEP_THRESHOLD for r in ratios.values())
        verdict[part] = {"library": library, "cpu_ratios": ratios, "keep": keep}
    document = {"machine_note": "shared 2-core machine; ratios from interleaved rounds", "cases": cases,
                "threshold": KEEP_THRESHOLD, "verdict": verdict, "measured_at": time.strftime("%Y-%m-%d")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print("\n| case | ours CPU µs/req | urllib3 / ours | SDK / ours |\n|---|---|---|---|")
    for name, case in cases.items():
        sdk = case.get("sdk", {}).get("cpu_ratio_vs_ours", "")
        print(f"| {name} | {case['ours']['cpu_us_per_request']} | {case['urllib3']['cpu_ratio_vs_ours']} | {sdk} |")
    for part, v in verdict.items():
        print(f"{part}: {'keep' if v['keep'] else 'replace with ' + v['library']} ({v['cpu_ratios']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
