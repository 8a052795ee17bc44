"""SkyLaunchOperator parses every rendered flag and number strictly, naming a bad argument."""

from __future__ import annotations

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.operators.launch import SkyLaunchOperator
from tests.operators.rendered import Flag, cases, check, render


def _read(name: str):
    return lambda op: getattr(op.arguments(), name)


FLAGS = (
    Flag("failover", "bool", _read("failover")),
    Flag("keep_cluster", "bool", _read("keep_cluster")),
    Flag("deferrable", "bool", _read("deferrable"), templated=False),
    Flag("autostop_minutes", "int", _read("autostop_minutes"), minimum=1),
    Flag("max_restarts", "int", _read("max_restarts"), minimum=0),
    Flag("poll_interval", "float", _read("poll_interval"), exclusive=True),
    Flag("ttl_hours", "float", _read("ttl_hours"), exclusive=True),
)


@pytest.mark.parametrize(("flag", "text"), cases(FLAGS))
def test_every_rendered_flag_and_number_is_parsed_strictly(flag: Flag, text: str) -> None:
    check(flag, text, render(SkyLaunchOperator, flag, text, task_id="t", task={"run": "true"}))


def test_the_table_covers_every_templated_flag_and_number() -> None:
    """A new flag or number in template_fields must join the table above."""
    structured = {"task", "envs", "clouds", "allow_regions", "deny_regions", "plan", "backend_options",
                  "aws_conn_id", "gcp_conn_id", "azure_conn_id"}  # fmt: skip
    assert set(SkyLaunchOperator.template_fields) - structured == {f.name for f in FLAGS if f.templated}


OPTIONS = {"local": {"capacity": {"local-a1": 0}}}


@pytest.mark.parametrize(
    ("rendered", "parsed"),
    [
        ('{"local": {"capacity": {"local-a1": 0}}}', OPTIONS),  # JSON text
        ("{'local': {'capacity': {'local-a1': 0}}}", OPTIONS),  # what a rendered dict looks like
        ("", None),
    ],
)
def test_rendered_backend_options_become_a_mapping(rendered: str, parsed: object) -> None:
    op = SkyLaunchOperator(task_id="t", task={"run": "true"}, backend_options=rendered)
    assert op.arguments().backend_options == parsed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend_options": '{"mars": {}}'}, "backend_options names unknown cloud(s) mars. Fix: use local, aws"),
        ({"backend_options": '{"aws": 3}'}, "backend_options must map clouds to mappings"),
        ({"backend_options": "capacity=0"}, "backend_options is neither JSON nor a literal mapping"),
        ({"plan": "[1, 2]"}, "plan is a list, not a mapping"),
        ({"plan": '{"candidates": [{"cloud": "local"}]}'}, "plan is not a launch plan (TypeError"),
        ({"clouds": '["aws", 3]'}, "clouds=['aws', 3] is not a list of strings"),
    ],
)
def test_bad_structured_arguments_name_the_argument(kwargs: dict, message: str) -> None:
    op = SkyLaunchOperator(task_id="t", task={"run": "true"}, **kwargs)
    with pytest.raises(SkyUserError) as info:
        op.arguments()
    assert message in str(info.value)


def test_rendered_region_lists_become_lists() -> None:
    op = SkyLaunchOperator(task_id="t", task={"run": "true"}, clouds="aws, gcp", deny_regions='["aws:us-*"]')
    args = op.arguments()
    assert (args.clouds, args.deny_regions, args.allow_regions) == (["aws", "gcp"], ["aws:us-*"], None)
