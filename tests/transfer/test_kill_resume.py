"""A copy killed with SIGKILL mid-object, then rerun: finished objects are not read again."""

from __future__ import annotations

import os
import sys
import textwrap

from tests.transfer.helpers import KiB, copy, tree, uri, write
from tests.transfer.killed_runs import sigkill_once_stalled

CHUNK = 64 * KiB

CHILD = textwrap.dedent(
    """
    import sys, time
    from airflow_provider_sky.stores.local import LocalStore
    from airflow_provider_sky.transfer import CopyRequest, run_copy

    src, dst, marker = sys.argv[1:4]

    class StallingStore(LocalStore):
        def read_range(self, bucket, key, offset, length):
            if key.endswith("obj06") and offset > 0:  # part 1 of obj06 is written; stall on part 2
                open(marker, "w").close()
                time.sleep(120)
            return super().read_range(bucket, key, offset, length)

    store = StallingStore()
    request = CopyRequest.build(src, dst, chunk_size=65536, multipart_threshold=65536, concurrency=1)
    run_copy(request, open_store=lambda uri, creds: store)
    """
)


def test_a_rerun_after_sigkill_skips_finished_objects_and_clears_the_unfinished_one(local, src, dst, tmp_path):
    names = [f"obj{i:02d}" for i in range(10)]
    for name in names:
        write(src / name, os.urandom(3 * CHUNK))
    marker = tmp_path / "stalled"
    sigkill_once_stalled([sys.executable, "-c", CHILD, uri(src), uri(dst), str(marker)], marker)
    leftovers = [p.name for p in dst.iterdir() if p.name.startswith(".sky-part-")]
    assert len(leftovers) == 1, "a SIGKILL leaves the unfinished object's temp file"

    summary = copy(local, uri(src), uri(dst), concurrency=1)

    reread = {key.rsplit("/", 1)[-1] for key in local.read_keys}
    assert reread == set(names[6:])
    assert summary.skipped == 6 and summary.destinations[0].stale_uploads_aborted == 1
    assert tree(dst) == {name: (src / name).read_bytes() for name in names}
