"""`airflow-sky` meets bad input and a bad environment with one error and its fix, never a traceback.

Each row is one mistake a user makes on the command line: the words the error must use, and
(by default) the "Fix:" it must carry. Every row also checks that nothing was written: the
whole scratch tree the row can touch is compared before and after. Rows run through the CLI's
`main()` in this process (a subprocess costs ~0.5 s a row); a few at the end run `airflow-sky`
as a real process, where an escaped exception would print its traceback.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_provider_sky.cli.main import main

OK_TASK = "resources:\n  cloud: local\nrun: echo hi\n"
GRID_ROWS = '"throughput_gbps": [[0, 1], [1, 0]], "egress_usd_per_gb": [[0, 0.1], [0.1, 0]]'
PAIR = ["aws:us-east-1", "gcp:europe-west4-a"]
AZURITE = "http://127.0.0.1:10000/acct"


@dataclass(frozen=True)
class Row:
    """argv and environment with {w} for the scratch directory; what stderr must say."""

    id: str
    argv: str
    says: str  # a regex the error must match
    env: dict[str, str] = field(default_factory=dict)
    fix: str = "Fix:"  # argparse usage errors carry their fix in their own words


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ROWS = [
    # -- plan: goals, budgets, volumes, limits, grids, --plot ----------------------------------------
    Row("plan-gbps-inf", "plan {pair} --gbps inf", r"--gbps=inf is not finite"),
    Row("plan-gbps-nan", "plan {pair} --gbps nan", r"--gbps=nan is not finite"),
    Row("plan-gbps-negative", "plan {pair} --gbps -1", r"--gbps=-1.0 is out of range.*> 0"),
    Row("plan-gbps-zero", "plan {pair} --gbps 0", r"--gbps=0.0 is out of range"),
    Row("plan-budget-zero", "plan {pair} --budget 0", r"--budget=0.0 is out of range"),
    Row("plan-budget-negative", "plan {pair} --budget -0.1", r"--budget=-0.1 is out of range"),
    Row("plan-budget-inf", "plan {pair} --budget inf", r"--budget=inf is not finite"),
    Row("plan-volume-zero", "plan {pair} --gbps 1 --volume 0", r"--volume=0.0 is out of range"),
    Row("plan-volume-negative", "plan {pair} --gbps 1 --volume -5", r"--volume=-5.0 is out of range"),
    Row("plan-volume-inf", "plan {pair} --gbps 1 --volume inf", r"--volume=inf is not finite"),
    Row("plan-vm-limit-zero", "plan {pair} --gbps 1 --max-instances 0", r"--max-instances=0 is out of range.*>= 1"),
    Row("plan-vm-limit-negative", "plan {pair} --gbps 1 --max-instances -2", r"--max-instances=-2 is out of range"),
    Row("plan-no-goal", "plan {pair}", r"plan needs a goal.*--gbps"),
    Row("plan-one-region", "plan aws:us-east-1 --gbps 1", r"needs a source and at least one destination"),
    Row("plan-unknown-region", "plan aws:nowhere gcp:europe-west4-a --gbps 1", r"'aws:nowhere' is not in grid"),
    Row("plan-multicast-budget", "plan {pair} aws:us-west-2 --budget 1", r"multicast needs a throughput goal"),
    Row("plan-grid-missing", "plan {pair} --gbps 1 --grid {w}/nope.json", r"Grid file .*nope.json' does not exist"),
    Row("plan-grid-directory", "plan {pair} --gbps 1 --grid {w}", r"Grid path .* is not a file"),
    Row("plan-grid-not-json", "plan {pair} --gbps 1 --grid {w}/grid-notjson.json", r"is not JSON"),
    Row("plan-grid-not-object", "plan {pair} --gbps 1 --grid {w}/grid-list.json", r"grid document is a JSON object"),
    Row("plan-grid-no-regions", "plan {pair} --gbps 1 --grid {w}/grid-empty.json", r"The grid has no regions"),
    Row("plan-grid-no-matrix", "plan {pair} --gbps 1 --grid {w}/grid-nomatrix.json", r"has no 'throughput_gbps'"),
    Row("plan-grid-text-number", "plan {pair} --gbps 1 --grid {w}/grid-text.json", r"value that is not a number"),
    Row("plan-grid-infinite", "plan {pair} --gbps 1 --grid {w}/grid-inf.json", r"'throughput_gbps' holds an infinite"),
    Row("plan-grid-negative-vms", "plan {pair} --gbps 1 --grid {w}/grid-negvm.json", r"'vm_limit' holds a negative"),
    Row("plan-plot-missing-dir", "plan {pair} --gbps 1 --plot {w}/nodir/p.png", r"directory '.*nodir' does not exist"),
    Row("plan-plot-is-directory", "plan {pair} --gbps 1 --plot {w}/src", r"--plot '.*src' is a directory"),
    # -- launch: --top, task file, catalogs, SKY_LOCAL_CAPACITY -------------------------------------------
    Row("launch-top-zero", "launch {w}/ok.yaml --dry-run --top 0", r"--top=0 is out of range.*>= 1"),
    Row("launch-top-negative", "launch {w}/ok.yaml --dry-run --top -3", r"--top=-3 is out of range"),
    Row("launch-task-missing", "launch {w}/nope.yaml --dry-run", r"Task file .*nope.yaml' does not exist"),
    Row("launch-workdir-missing", "launch {w}/nowork.yaml", r"workdir '.*no-such-dir' does not exist"),
    Row("launch-task-is-a-directory", "launch {w}/src --dry-run", r"(?i)src.* is a directory"),
    Row("launch-task-not-yaml", "launch {w}/broken.yaml --dry-run", r"Task YAML does not parse"),
    Row("launch-catalog-dir-missing", "launch {w}/ok.yaml --dry-run --catalog-dir {w}/nope",
        r"Catalog directory .*nope' does not exist"),
    Row("launch-catalog-no-columns", "launch {w}/ok.yaml --dry-run --catalog-dir {w}/cat-nocols",
        r"has no InstanceType, Price, Region column"),
    Row("launch-catalog-undecodable", "launch {w}/ok.yaml --dry-run --catalog-dir {w}/cat-binary",
        r"vms.csv' cannot be parsed.*codec"),
    Row("launch-catalog-empty", "launch {w}/ok.yaml --dry-run --catalog-dir {w}/cat-empty", r"vms.csv' is empty"),
    Row("launch-catalog-no-priced-row", "launch {w}/ok.yaml --dry-run --catalog-dir {w}/cat-noprice",
        r"has no launchable row \(no price: 1\)"),
    Row("catalog-show-unparsable", "catalog show --catalog-dir {w}/cat-nocols", r"has no InstanceType"),
    Row("local-capacity-not-json", "launch {w}/ok.yaml", r"SKY_LOCAL_CAPACITY is not a JSON object",
        env={"SKY_LOCAL_CAPACITY": "{{bad"}),
    Row("local-capacity-missing-file", "launch {w}/ok.yaml", r"SKY_LOCAL_CAPACITY names file .*cannot be read",
        env={"SKY_LOCAL_CAPACITY": "{w}/capacity-nope.json"}),
    Row("local-capacity-negative", "launch {w}/ok.yaml", r"not whole numbers >= 0: \{'local-a1': -1\}",
        env={"SKY_LOCAL_CAPACITY": '{{"local-a1": -1}}'}),
    Row("local-capacity-fraction", "launch {w}/ok.yaml", r"not whole numbers >= 0",
        env={"SKY_LOCAL_CAPACITY": '{{"local-a1": 1.5}}'}),
    Row("local-capacity-list", "launch {w}/ok.yaml", r"SKY_LOCAL_CAPACITY is JSON list, not an object",
        env={"SKY_LOCAL_CAPACITY": "[1]"}),
    # -- janitor: state directory, endpoints, sign-in -----------------------------------------------------
    Row("state-dir-is-a-file", "janitor", r"State directory .*afile' cannot be created \(it is a file\)",
        env={"SKY_STATE_DIR": "{w}/afile"}),
    Row("state-dir-under-a-file", "janitor", r"State directory .*afile/x' cannot be created",
        env={"SKY_STATE_DIR": "{w}/afile/x"}),
    Row("janitor-endpoint-not-a-url", "janitor --cloud aws --aws-endpoint-url not-a-url --aws-region us-east-1",
        r"EC2 endpoint URL 'not-a-url' is not an http:// or https:// URL"),
    Row("janitor-endpoint-unreachable", "janitor --cloud aws --aws-endpoint-url http://127.0.0.1:{port} "
        "--aws-region us-east-1", r"Cannot connect to the AWS endpoint",
        env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "1"}),
    Row("catalog-refresh-unreachable", "catalog refresh --cloud aws --out {w}/refreshed",
        r"Cannot connect to the AWS endpoint.*http://127\.0\.0\.1:\d+/",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
             "AWS_MAX_ATTEMPTS": "1"}),
    # -- cp/sync on file://: sources that are no files, sizes, overlaps -----------------------------------
    Row("cp-fifo-source", "cp file://{w}/fifo file://{w}/out/", r"fifo is a FIFO \(named pipe\), not a regular"),
    Row("cp-device-source", "cp file:///dev/null file://{w}/out/", r"/dev/null is a character device"),
    Row("cp-symlink-loop-source", "cp file://{w}/loop1 file://{w}/out/", r"loop1 is a symlink loop"),
    Row("cp-dangling-link-source", "cp file://{w}/dangling file://{w}/out/", r"dangling is a dangling symlink"),
    Row("cp-missing-source", "cp file://{w}/nothing/ file://{w}/out/", r"Nothing to copy: no objects under"),
    Row("cp-empty-source", "cp file://{w}/empty/ file://{w}/out/", r"Nothing to copy.*--allow-empty-source"),
    Row("cp-chunk-one-byte", "cp file://{w}/src/ file://{w}/out/ --chunk-size 1", r"chunk_size=1 bytes is too small"),
    Row("cp-chunk-below-64k", "cp file://{w}/src/ file://{w}/out/ --chunk-size 65535", r"too small to make progress"),
    Row("cp-chunk-zero", "cp file://{w}/src/ file://{w}/out/ --chunk-size 0", r"chunk_size=0 is not a positive"),
    Row("cp-chunk-not-a-size", "cp file://{w}/src/ file://{w}/out/ --chunk-size lots", r"'lots' is not a size",
        fix=r"write e\.g\. 8MiB"),
    Row("cp-concurrency-zero", "cp file://{w}/src/ file://{w}/out/ --concurrency 0", r"concurrency=0 is not a"),
    Row("cp-threshold-zero", "cp file://{w}/src/ file://{w}/out/ --multipart-threshold 0", r"multipart_threshold=0"),
    Row("cp-no-scheme", "cp {w}/src/ file://{w}/out/", r"no scheme"),
    Row("cp-unknown-scheme", "cp ftp://host/x file://{w}/out/", r"Unknown storage scheme 'ftp'"),
    Row("cp-bad-bucket-name", "cp s3://Bad_Bucket/k file://{w}/out/", r"is not valid"),
    Row("cp-destination-inside-source", "cp file://{w}/src/ file://{w}/src/backup/", r"destination is inside"),
    Row("cp-same-destination-twice", "cp file://{w}/src/ file://{w}/out/ file://{w}/out", r"same place|twice"),
    Row("cp-destination-under-a-file", "cp file://{w}/src/ file://{w}/afile/sub/", r"afile is a file, not a dir"),
    Row("sync-source-inside-destination", "sync --delete file://{w}/src/ file://{w}/", r"source is inside"),
    # -- cp: endpoints, keys, connections ------------------------------------------------------------------
    Row("s3-endpoint-no-scheme", "cp file://{w}/src/ s3://bucket/x/ --s3-endpoint-url not-a-url",
        r"S3 endpoint URL 'not-a-url' is not an http:// or https:// URL"),
    Row("s3-endpoint-no-host", "cp file://{w}/src/ s3://bucket/x/ --s3-endpoint-url http://",
        r"S3 endpoint URL 'http://' is not"),
    Row("s3-endpoint-ftp", "cp file://{w}/src/ s3://bucket/x/ --s3-endpoint-url ftp://host:21", r"'ftp://host:21'"),
    Row("s3-endpoint-bad-port", "cp file://{w}/src/ s3://bucket/x/ --s3-endpoint-url http://127.0.0.1:99999",
        r"S3 endpoint URL 'http://127.0.0.1:99999' is malformed \(Port out of range"),
    Row("s3-endpoint-from-env", "cp file://{w}/src/ s3://bucket/x/", r"S3 endpoint URL 'localhost:9000' is not",
        env={"AWS_ENDPOINT_URL": "localhost:9000"}),
    Row("gcs-endpoint-garbage", "cp file://{w}/src/ gs://bucket/x/ --gcs-endpoint-url ::bad",
        r"GCS endpoint URL '::bad' is not"),
    Row("azure-account-url-no-scheme", "cp file://{w}/src/ azure://acct/cont/x/ --azure-account-url not-a-url",
        r"Azure account URL 'not-a-url' is not"),
    Row("azure-key-not-base64", "cp file://{w}/src/ azure://acct/cont/x/ --azure-connection-string "
        f"AccountName=acct;AccountKey=not-base64!;BlobEndpoint={AZURITE}",
        r"AccountKey in the Azure connection string is not base64"),
    Row("azure-blob-endpoint-no-scheme", "cp file://{w}/src/ azure://acct/cont/x/ --azure-connection-string "
        "AccountName=acct;AccountKey=aGVsbG8=;BlobEndpoint=127.0.0.1:10000/acct",
        r"BlobEndpoint in the Azure connection string '127.0.0.1:10000/acct' is not"),
    Row("azure-connection-string-garbage", "cp file://{w}/src/ azure://acct/cont/x/ --azure-connection-string junk",
        r"Azure connection string is malformed"),
    Row("conn-variable-not-json", "cp file://{w}/src/ s3://bucket/x/",
        r"AIRFLOW_CONN_AWS_DEFAULT is not valid JSON",
        env={"AIRFLOW_CONN_AWS_DEFAULT": "{{bad"}),
    Row("conn-extra-not-json", "cp file://{w}/src/ s3://bucket/x/ --aws-conn-id my_aws", r"(?i)extra.*json",
        env={"AIRFLOW_CONN_MY_AWS": '{{"conn_type": "aws", "extra": "notjson"}}'}),
    Row("conn-extra-not-object", "cp file://{w}/src/ s3://bucket/x/ --aws-conn-id my_aws", r"(?i)extra.*object",
        env={"AIRFLOW_CONN_MY_AWS": '{{"conn_type": "aws", "extra": [1, 2]}}'}),
    Row("conn-wrong-type", "cp file://{w}/src/ s3://bucket/x/ --aws-conn-id my_aws", r"(?i)my_aws.*wasb|type",
        env={"AIRFLOW_CONN_MY_AWS": '{{"conn_type": "wasb", "login": "acct"}}'}),
    Row("conn-azure-key-not-base64", "cp file://{w}/src/ azure://acct/cont/x/ --azure-conn-id my_wasb",
        r"Azure account key is not base64",
        env={"AIRFLOW_CONN_MY_WASB": '{{"conn_type": "wasb", "login": "acct", "password": "not base64!", '
             f'"extra": {{{{"account_url": "{AZURITE}"}}}}}}}}'}),
    Row("conn-endpoint-not-a-url", "cp file://{w}/src/ s3://bucket/x/ --aws-conn-id my_aws",
        r"S3 endpoint URL 'minio:9000' is not",
        env={"AIRFLOW_CONN_MY_AWS": '{{"conn_type": "aws", "extra": {{"endpoint_url": "minio:9000"}}}}'}),
]  # fmt: skip


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every file the rows point at; state, caches and AWS config kept outside it."""
    w = tmp_path / "w"
    (w / "src").mkdir(parents=True)
    (w / "src" / "a.txt").write_bytes(b"alpha")
    (w / "empty").mkdir()
    (w / "afile").write_bytes(b"x")
    os.mkfifo(w / "fifo")
    os.symlink("loop2", w / "loop1")  # relative: the pair stays a loop when moved together
    os.symlink("loop1", w / "loop2")
    os.symlink(w / "nowhere", w / "dangling")
    (w / "ok.yaml").write_text(OK_TASK)
    (w / "broken.yaml").write_text("resources: [unclosed\n")
    (w / "nowork.yaml").write_text(OK_TASK + f"workdir: {w}/no-such-dir\n")
    grids = {
        "notjson": "{bad",
        "list": "[1, 2]",
        "empty": '{"regions": [], "throughput_gbps": [], "egress_usd_per_gb": []}',
        "nomatrix": '{"regions": ["aws:us-east-1", "gcp:europe-west4-a"]}',
        "text": '{"regions": ["aws:us-east-1", "gcp:europe-west4-a"], '
        '"throughput_gbps": [[0, "fast"], [1, 0]], "egress_usd_per_gb": [[0, 0.1], [0.1, 0]]}',
        "inf": '{"regions": ["aws:us-east-1", "gcp:europe-west4-a"], '
        '"throughput_gbps": [[0, Infinity], [1, 0]], "egress_usd_per_gb": [[0, 0.1], [0.1, 0]]}',
        "negvm": f'{{"regions": ["aws:us-east-1", "gcp:europe-west4-a"], {GRID_ROWS}, "vm_limit": -1}}',
    }
    for name, text in grids.items():
        (w / f"grid-{name}.json").write_text(text)
    catalogs = {
        "nocols": b"a,b\n1,2\n",
        "binary": b"\xff\xfe\x00garbage",
        "empty": b"",
        "noprice": b"InstanceType,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\nvm,2,4,,,local-a,local-a1\n",
    }
    for name, data in catalogs.items():
        (w / f"cat-{name}" / "local").mkdir(parents=True)
        (w / f"cat-{name}" / "local" / "vms.csv").write_bytes(data)
    outside = tmp_path / "outside"
    monkeypatch.setenv("SKY_STATE_DIR", str(outside / "state"))
    monkeypatch.setenv("AIRFLOW_SKY_CACHE_DIR", str(outside / "cache"))
    for name in list(os.environ):
        if name.startswith(("AWS_", "AIRFLOW_CONN_", "AZURE_", "GOOGLE_")) or name == "STORAGE_EMULATOR_HOST":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(outside / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(outside / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s IMDS probe per row
    return w


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every path the rows can touch, with its kind and size: a write anywhere changes it.

    Directories count too, in the scratch tree and in the state and cache directories beside
    it: a destination directory, or a launch's state layout, made before the error is a write.
    """
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            out[str(path.relative_to(root))] = (oct(st.st_mode), 0 if path.is_dir() else st.st_size)
    return out


def expand(text: str, w: Path) -> str:
    return text.format(w=w, pair=" ".join(PAIR), port=closed_port())


def run_in_process(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err


def check_refused(code: int, err: str, row: Row) -> None:
    assert code != 0, err
    assert "Traceback" not in err
    assert re_search(row.says, err), err
    assert re_search(row.fix, err), err


def re_search(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.S) is not None


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_one_error_with_its_fix_and_writes_nothing(
    row: Row, scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in row.env.items():
        monkeypatch.setenv(name, expand(value, scratch))
    before = snapshot(scratch.parent)

    code, err = run_in_process(expand(row.argv, scratch).split(), capsys)

    check_refused(code, err, row)
    assert snapshot(scratch.parent) == before


def test_the_battery_counts_at_least_eighty_rows_across_surfaces() -> None:
    from tests.test_bad_input_battery_hooks import count_rows

    assert len(ROWS) + len(SUBPROCESS_ROWS) + count_rows() >= 80


def test_a_file_source_skips_pipes_and_broken_links_naming_each(
    scratch: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("fifo", "loop1", "loop2", "dangling"):
        os.rename(scratch / name, scratch / "src" / name)

    code, _ = run_in_process(["cp", "--no-progress", f"file://{scratch}/src/", f"file://{scratch}/out/"], capsys)

    assert code == 0
    assert sorted(p.name for p in (scratch / "out").iterdir()) == ["a.txt"]
    skipped = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "src/fifo: a FIFO (named pipe)" in skipped
    assert "src/loop1: a symlink loop" in skipped
    assert "src/dangling: a dangling symlink" in skipped


# -- a full disk ---------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a real filesystem that runs out of space (needs root, as in CI)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot mount a tmpfs in CI: {done.stderr.decode().strip()}", pytrace=False)
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("chunk", ["16MiB", "64KiB"], ids=["whole-object", "in-parts"])
def test_a_full_disk_is_one_error_naming_the_destination_and_free_space(
    chunk: str, scratch: Path, tiny_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (scratch / "src" / "big.bin").write_bytes(os.urandom(600_000))
    argv = ["cp", "--no-progress", f"file://{scratch}/src/", f"file://{tiny_disk}/out/", "--chunk-size", chunk,
            "--multipart-threshold", chunk, "--concurrency", "1"]  # fmt: skip

    code, err = run_in_process(argv, capsys)

    check_refused(code, err, Row("enospc", "", r"No space left on the device for file://.*/out/big\.bin \(\d"))
    assert "bytes free" in err and "partial file was removed" in err
    leftovers = [p.name for p in (tiny_disk / "out").iterdir() if p.name != "a.txt"]
    assert leftovers == []  # no temp file holds the space a rerun needs


# -- real processes: an escaped exception would print its traceback here ------------------------------


SUBPROCESS_ROWS = [
    Row("proc-plan-gbps-inf", "plan {pair} --gbps inf", r"--gbps=inf is not finite"),
    Row("proc-cp-device-source", "cp file:///dev/null file://{w}/out/", r"is a character device"),
    Row("proc-s3-endpoint-bad-port", "cp file://{w}/src/ s3://bucket/x/ --s3-endpoint-url http://h:0x1",
        r"is malformed"),
    # boto3 keeps clients (and the keys they found) per process: this row needs a fresh one
    Row("proc-janitor-no-aws-credentials", "janitor --cloud aws --aws-region us-east-1",
        r"No AWS credentials were found"),
    Row("proc-state-dir-is-a-file", "janitor", r"cannot be created \(it is a file\)",
        env={"SKY_STATE_DIR": "{w}/afile"}),
    Row("proc-verbose-keeps-the-detail", "-v janitor --cloud aws --aws-endpoint-url http://127.0.0.1:{port} "
        "--aws-region us-east-1", r"Traceback.*EndpointConnectionError.*Cannot connect to the AWS endpoint",
        env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "1"}),
]  # fmt: skip


@pytest.mark.parametrize("row", SUBPROCESS_ROWS, ids=[r.id for r in SUBPROCESS_ROWS])
def test_the_installed_command_prints_no_traceback(row: Row, scratch: Path) -> None:
    env = {**os.environ, **{k: expand(v, scratch) for k, v in row.env.items()}}
    before = snapshot(scratch.parent)

    done = _airflow_sky(expand(row.argv, scratch).split(), env)

    assert done.returncode == 2, done.stderr
    assert re_search(row.says, done.stderr) and "Fix:" in done.stderr, done.stderr
    if "-v" not in row.argv:
        assert "Traceback" not in done.stderr
    assert snapshot(scratch.parent) == before


def _airflow_sky(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "airflow_provider_sky.cli.main", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
