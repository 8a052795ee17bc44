"""`airflow-sky cp` / `sync` as a user types them."""

import json

import pytest

from airflow_provider_sky.cli.copy import parse_size
from airflow_provider_sky.cli.main import main
from tests.transfer.helpers import tree, uri, write


def test_cp_copies_and_reports_on_stderr(src, dst, capsys):
    write(src / "a", b"abc")

    code = main(["cp", uri(src), uri(dst)])

    assert code == 0 and tree(dst) == {"a": b"abc"}
    assert "copied 1 objects" in capsys.readouterr().err


def test_sync_dry_run_lists_copies_and_deletes_on_stdout_and_writes_nothing(src, dst, capsys):
    write(src / "new", b"n")
    write(dst / "extra", b"x")

    code = main(["sync", uri(src), uri(dst), "--delete", "--dry-run"])

    out = capsys.readouterr().out
    assert code == 0 and tree(dst) == {"extra": b"x"}
    assert f"would copy {uri(src)}new -> {uri(dst)}new (1 B)" in out
    assert f"would delete {uri(dst)}extra" in out


def test_sync_delete_removes_extras_and_json_summary_is_printed(src, dst, capsys):
    write(src / "a", b"a")
    write(dst / "extra", b"x")

    code = main(["sync", uri(src), uri(dst), "--delete", "--json", "--no-progress"])

    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and tree(dst) == {"a": b"a"}
    assert summary["objects"] == 1 and summary["deleted"] == 1


def test_progress_goes_to_stderr_as_plain_lines_when_not_a_tty(src, dst, capsys):
    write(src / "a", b"a" * 1000)

    main(["cp", uri(src), uri(dst)])

    err = capsys.readouterr().err
    assert "progress " in err and "ETA" in err and "/s" in err


def test_a_bad_uri_exits_2_with_problem_and_fix(dst, capsys):
    code = main(["cp", "nfs://server/share", uri(dst)])

    err = capsys.readouterr().err
    assert code == 2
    assert "Unknown storage scheme 'nfs'" in err and "Fix:" in err


def test_delete_is_not_an_option_of_cp(src, dst):
    with pytest.raises(SystemExit):
        main(["cp", uri(src), uri(dst), "--delete"])


@pytest.mark.parametrize(("text", "size"), [("16MiB", 16 << 20), ("8M", 8 << 20), ("512k", 512 << 10), ("100", 100)])
def test_sizes_accept_binary_units(text, size):
    assert parse_size(text) == size


def test_an_unknown_connection_id_is_named_with_how_to_define_it(dst, capsys):
    code = main(["cp", "s3://some-bucket/x/", uri(dst), "--aws-conn-id", "no_such_conn"])

    err = capsys.readouterr().err
    assert code == 2 and "'no_such_conn' is not defined" in err and "Fix:" in err
    assert tree(dst) == {}
