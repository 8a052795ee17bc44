"""Task specs: a SkyPilot-style task YAML parsed into frozen, validated objects.

Why a parser of our own: the launcher must accept the task files users already have for SkyPilot
(same keys, same shorthands such as ``cpus: 4+`` or ``accelerators: V100:1``) but must refuse
typos *before* anything is provisioned, with a message that names the bad key and the fix. The
objects are frozen so a plan built from a task cannot drift from it.
"""

from __future__ import annotations

import csv
import difflib
import functools
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources as importlib_resources
from typing import Any

import yaml

from airflow_provider_sky import redact
from airflow_provider_sky.errors import SkyUserError

CLOUDS = ("aws", "gcp", "azure", "local")
_CLOUD_ALIASES = {"amazon": "aws", "google": "gcp", "gce": "gcp", "az": "azure"}
# Clouds SkyPilot knows that this launcher does not: an any_of/ordered entry on one is skipped
# (SkyPilot skips clouds that are not enabled), while a name known to neither stays a typo error.
SKYPILOT_ONLY_CLOUDS = (
    "lambda", "runpod", "kubernetes", "k8s", "oci", "ibm", "scp", "paperspace", "fluidstack", "cudo",
    "vsphere", "do", "nebius", "vast", "hyperbolic", "ssh",
)  # fmt: skip
log = logging.getLogger(__name__)

# Keys a SkyPilot task may carry that the launcher understands.
TOP_LEVEL_KEYS = (
    "name",
    "workdir",
    "num_nodes",
    "resources",
    "file_mounts",
    "setup",
    "run",
    "envs",
    "secrets",
    "inputs",
    "outputs",
    "estimated_runtime_hours",
)
# Keys SkyPilot accepts that this launcher reads but does not act on (serving, pools, configs).
PASSTHROUGH_TOP_LEVEL_KEYS = ("service", "pool", "config", "event_callback", "volumes")
RESOURCE_KEYS = (
    "infra",
    "cloud",
    "region",
    "zone",
    "instance_type",
    "cpus",
    "memory",
    "accelerators",
    "use_spot",
    "disk_size",
    "any_of",
    "ordered",
)
# Resource keys SkyPilot accepts that only matter to a real provisioner; kept in `extras`.
PASSTHROUGH_RESOURCE_KEYS = (
    "job_recovery",
    "spot_recovery",
    "disk_tier",
    "image_id",
    "ports",
    "max_hourly_cost",
    "autostop",
    "labels",
    "accelerator_args",
    "network_tier",
    "priority",
    "_cluster_config_overrides",
)

_NUMBER = r"\d+(?:\.\d+)?"
_CPUS_RE = re.compile(rf"^({_NUMBER})(\+?)$")
_MEMORY_RE = re.compile(rf"^({_NUMBER})(x?)(\+?)$", re.IGNORECASE)
_MEMORY_UNIT_RE = re.compile(r"\s*(gib|gb|g)$", re.IGNORECASE)


def _fail(problem: str, fix: str) -> SkyUserError:
    return SkyUserError(problem, fix)


def _closest(word: str, options: tuple[str, ...] | list[str], n: int = 3) -> list[str]:
    by_lower = {o.lower(): o for o in options}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.5)]


def _unknown_key_error(key: str, where: str, valid: tuple[str, ...]) -> SkyUserError:
    close = _closest(str(key), list(valid))
    fix = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(valid)}"
    if close:
        fix += f" Valid keys here: {', '.join(valid)}"
    return _fail(f"Unknown key {key!r} in {where}", fix)


@functools.lru_cache(maxsize=1)
def known_accelerators() -> tuple[str, ...]:
    """Accelerator names from SkyPilot's accelerators.csv (v8), the list users' task files use."""
    ref = importlib_resources.files("airflow_provider_sky.launch") / "catalog_data" / "accelerators_v8.csv"
    with ref.open("r", encoding="utf-8") as fh:
        return tuple(row["AcceleratorName"] for row in csv.DictReader(fh) if row.get("AcceleratorName"))


def canonical_accelerator(name: str) -> str:
    """Return the catalog spelling of an accelerator name (case-insensitive), or raise with close names.

    TPU slices are named ``tpu-v5litepod-8`` in the catalog while accelerators.csv lists only the
    family (``tpu-v5litepod``), so a TPU name is accepted when its family is known.
    """
    text = str(name).strip()
    names = known_accelerators()
    by_lower = {n.lower(): n for n in names}
    if text.lower() in by_lower:
        return by_lower[text.lower()]
    tpu = re.match(r"^(tpu-[a-z0-9]+)-(\d+)$", text.lower())
    if tpu and tpu.group(1) in by_lower:
        return text.lower()
    close = _closest(text, list(names), n=4)
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see accelerators_v8.csv"
    raise _fail(
        f"Unknown accelerator {text!r} in resources.accelerators",
        f"{hint} Names are SkyPilot's, e.g. 'A100:8', 'L4:1', 'tpu-v5litepod-8'",
    )


def _parse_count(value: Any, name: str) -> float | int:
    try:
        count = float(value)
    except (TypeError, ValueError):
        raise _fail(
            f"Accelerator count {value!r} for {name} is not a number",
            f"write e.g. '{name}:1' or {{{name}: 2}}",
        ) from None
    if not math.isfinite(count) or count <= 0:
        raise _fail(f"Accelerator count {value!r} for {name} must be positive", f"write e.g. '{name}:1'")
    return int(count) if count.is_integer() else count


def parse_accelerators(value: Any) -> list[dict[str, float | int]]:
    """Turn every accelerator shorthand into a list of alternatives, each ``{name: count}``.

    SkyPilot reads a list, a set or a multi-key dict as "any one of these", so each becomes its
    own alternative; a single string or single-key dict is one alternative.
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{") or text.startswith("["):
            return parse_accelerators(yaml.safe_load(text))
        name, _, count = text.partition(":")
        name = canonical_accelerator(name)
        return [{name: _parse_count(count or 1, name)}]
    if isinstance(value, Mapping):
        out = []
        for name, count in value.items():
            canon = canonical_accelerator(name)
            out.append({canon: _parse_count(1 if count is None else count, canon)})
        return out
    if isinstance(value, (list, tuple, set)):
        out = []
        for item in value:
            out.extend(parse_accelerators(item))
        return out
    raise _fail(
        f"resources.accelerators has type {type(value).__name__}",
        "write 'V100:1', {'A100': 8}, or a list of such alternatives",
    )


def parse_cpus(value: Any) -> str | None:
    """Normalise ``cpus`` to "N" (exactly N) or "N+" (at least N)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail(f"resources.cpus is {value!r}", "write a count such as 4 or '4+' (at least 4)")
    text = str(value).strip()
    match = _CPUS_RE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise _fail(
            f"resources.cpus {value!r} is not a vCPU count",
            "write 4 (exactly 4 vCPUs) or '4+' (at least 4)",
        )
    return _trim_number(match.group(1)) + match.group(2)


def parse_memory(value: Any) -> str | None:
    """Normalise ``memory`` to "N", "N+" (GiB) or "Nx"/"Nx+" (GiB per vCPU)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _fail(f"resources.memory is {value!r}", "write GiB such as 16, '16+' or '4x' (4 GiB per vCPU)")
    text = str(value).strip()
    plus = text.endswith("+")
    core = _MEMORY_UNIT_RE.sub("", text[:-1] if plus else text)
    match = _MEMORY_RE.match(core + ("+" if plus else ""))
    if not match or float(match.group(1)) <= 0:
        raise _fail(
            f"resources.memory {value!r} is not a size in GiB",
            "write 16 (exactly 16 GiB), '16+' (at least 16) or '4x' (4 GiB per vCPU)",
        )
    return _trim_number(match.group(1)) + match.group(2).lower() + match.group(3)


def _trim_number(text: str) -> str:
    number = float(text)
    return str(int(number)) if number.is_integer() else str(number)


def bound(spec: str | None) -> tuple[float, bool] | None:
    """(value, at_least) from a normalised cpus/memory string; None when unset."""
    if spec is None:
        return None
    at_least = spec.endswith("+")
    return float(spec.rstrip("+").rstrip("x")), at_least


def _parse_cloud(value: Any) -> str | None:
    if value is None or value == "*":
        return None
    text = _CLOUD_ALIASES.get(str(value).strip().lower(), str(value).strip().lower())
    if text not in CLOUDS:
        close = _closest(text, list(CLOUDS))
        hint = f"did you mean {close[0]!r}?" if close else ""
        raise _fail(
            f"Unknown cloud {value!r} in resources", f"{hint} Use one of: {', '.join(CLOUDS)}".strip()
        )
    return text


def _parse_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
        return value.strip().lower() in ("true", "yes")
    raise _fail(f"resources.{key} is {value!r}, not true/false", f"write {key}: true or {key}: false")


def _parse_positive_int(value: Any, key: str, minimum: int = 1) -> int:
    try:
        number = int(value)
        ok = not isinstance(value, bool) and float(value) == number and number >= minimum
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise _fail(f"{key} is {value!r}", f"write a whole number >= {minimum}")
    return number


def _skypilot_only_cloud(item: Mapping[str, Any]) -> str | None:
    """The cloud an any_of/ordered entry names when SkyPilot supports it and this launcher does not."""
    name = item.get("cloud")
    if name is None and item.get("infra") is not None:
        name = str(item["infra"]).split("/")[0]
    text = str(name).strip().lower() if name is not None else ""
    return text if text in SKYPILOT_ONLY_CLOUDS else None


def parse_infra(value: Any) -> tuple[str | None, str | None, str | None]:
    """``infra: aws/us-east-1[/us-east-1a]`` (SkyPilot >= 0.10) into (cloud, region, zone)."""
    parts = [p.strip() for p in str(value).strip().split("/")]
    if not parts or not parts[0] or len(parts) > 3 or any(p == "" for p in parts):
        raise _fail(
            f"resources.infra {value!r} is malformed", "write 'cloud[/region[/zone]]', e.g. 'aws/us-east-1'"
        )
    cloud = _parse_cloud(parts[0])
    region = parts[1] if len(parts) > 1 and parts[1] != "*" else None
    zone = parts[2] if len(parts) > 2 and parts[2] != "*" else None
    return cloud, region, zone


@dataclass(frozen=True)
class ResourceRequest:
    """What one node needs. Fields left None mean "anything the optimizer likes".

    ``cpus`` and ``memory`` keep SkyPilot's shorthand (normalised) because the "+" carries meaning;
    use :func:`bound` to read them. ``any_of``/``ordered`` hold fully merged alternatives: each one
    is this request with the alternative's fields laid over it, ready for the optimizer.
    """

    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    instance_type: str | None = None
    cpus: str | None = None
    memory: str | None = None
    accelerators: dict[str, float | int] | None = None
    use_spot: bool = False
    disk_size: int | None = None
    any_of: tuple[ResourceRequest, ...] = ()
    ordered: tuple[ResourceRequest, ...] = ()
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, where: str = "resources") -> ResourceRequest:
        if data is not None and not isinstance(data, Mapping):
            raise _fail(f"{where} must be a mapping", "write keys such as cpus, memory, accelerators")
        data = dict(data or {})
        for key in data:
            if key not in RESOURCE_KEYS and key not in PASSTHROUGH_RESOURCE_KEYS:
                raise _unknown_key_error(key, where, RESOURCE_KEYS + PASSTHROUGH_RESOURCE_KEYS)
        base, accel_alternatives = cls._parse_flat(data, where)
        any_of = tuple(cls._alternatives(base, data.get("any_of"), f"{where}.any_of"))
        ordered = tuple(cls._alternatives(base, data.get("ordered"), f"{where}.ordered"))
        if any_of and ordered:
            raise _fail(f"{where} has both any_of and ordered", "keep one: any_of (cheapest wins) or ordered")
        if len(accel_alternatives) > 1:
            if any_of or ordered:
                raise _fail(
                    f"{where} lists several accelerators and also any_of/ordered",
                    "move each accelerator choice into the any_of/ordered entries",
                )
            any_of = tuple(replace(base, accelerators=a) for a in accel_alternatives)
        return replace(base, any_of=any_of, ordered=ordered)

    @classmethod
    def _parse_flat(cls, data: dict[str, Any], where: str) -> tuple[ResourceRequest, list[dict]]:
        cloud, region, zone = None, None, None
        if data.get("infra") is not None:
            if any(data.get(k) is not None for k in ("cloud", "region", "zone")):
                raise _fail(
                    f"{where} sets infra and cloud/region/zone", "use infra alone, e.g. 'aws/us-east-1'"
                )
            cloud, region, zone = parse_infra(data["infra"])
        else:
            cloud = _parse_cloud(data.get("cloud"))
            region = str(data["region"]) if data.get("region") is not None else None
            zone = str(data["zone"]) if data.get("zone") is not None else None
        accels = parse_accelerators(data.get("accelerators"))
        extras = {k: data[k] for k in PASSTHROUGH_RESOURCE_KEYS if k in data}
        disk = data.get("disk_size")
        base = cls(
            cloud=cloud,
            region=region,
            zone=zone,
            instance_type=str(data["instance_type"]) if data.get("instance_type") is not None else None,
            cpus=parse_cpus(data.get("cpus")),
            memory=parse_memory(data.get("memory")),
            accelerators=accels[0] if len(accels) == 1 else None,
            use_spot=_parse_bool(data["use_spot"], "use_spot") if data.get("use_spot") is not None else False,
            disk_size=_parse_positive_int(disk, f"{where}.disk_size") if disk is not None else None,
            extras=extras,
        )
        return base, accels

    @classmethod
    def _alternatives(cls, base: ResourceRequest, items: Any, where: str) -> list[ResourceRequest]:
        if items is None:
            return []
        if not isinstance(items, list) or not items:
            raise _fail(f"{where} must be a non-empty list of resource mappings", "write e.g. - {cloud: aws}")
        out: list[ResourceRequest] = []
        skipped: list[str] = []
        for i, item in enumerate(items):
            label = f"{where}[{i}]"
            if not isinstance(item, Mapping):
                raise _fail(
                    f"{label} is not a mapping", "write each entry as keys such as cloud, accelerators"
                )
            other = _skypilot_only_cloud(item)
            if other is not None:
                log.warning("skipping %s: cloud %r is not supported by this launcher", label, other)
                skipped.append(other)
                continue
            for key in item:
                if key in ("any_of", "ordered"):
                    raise _fail(f"{label} nests {key}", "keep any_of/ordered one level deep")
                if key not in RESOURCE_KEYS and key not in PASSTHROUGH_RESOURCE_KEYS:
                    raise _unknown_key_error(key, label, RESOURCE_KEYS + PASSTHROUGH_RESOURCE_KEYS)
            part, accels = cls._parse_flat(dict(item), label)
            merged = {
                name: getattr(part, name)
                for name in ("cloud", "region", "zone", "instance_type", "cpus", "memory", "disk_size")
                if getattr(part, name) is not None
            }
            if "use_spot" in item:
                merged["use_spot"] = part.use_spot
            extras = {**base.extras, **part.extras}
            location_set = any(k in item for k in ("infra", "cloud", "region", "zone"))
            if location_set:  # a new location replaces the whole inherited location
                merged.update(cloud=part.cloud, region=part.region, zone=part.zone)
            choices: list[dict[str, float | int] | None] = list(accels) if accels else [base.accelerators]
            out.extend(replace(base, **merged, accelerators=a, extras=extras) for a in choices)
        if not out:
            needed = ", ".join(dict.fromkeys(skipped))
            raise _fail(
                f"no {where} entry is on a cloud this launcher supports (the entries need: {needed})",
                f"add an entry on one of {', '.join(CLOUDS)}, or launch this task with SkyPilot",
            )
        return out

    def alternatives(self) -> list[ResourceRequest]:
        """The concrete requests the optimizer must consider (self when no any_of/ordered)."""
        return list(self.ordered or self.any_of) or [self]

    def to_dict(self) -> dict[str, Any]:
        """SkyPilot-shaped mapping; from_dict(to_dict()) returns an equal request."""
        out = self._flat_dict()
        if self.ordered:
            out["ordered"] = [alt._flat_dict() for alt in self.ordered]
        elif self.any_of:
            out["any_of"] = [alt._flat_dict() for alt in self.any_of]
        return out

    def _flat_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("cloud", "region", "zone", "instance_type", "cpus", "memory", "disk_size"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.accelerators:
            out["accelerators"] = dict(self.accelerators)
        if self.use_spot:
            out["use_spot"] = True
        out.update(self.extras)
        return out


def _bucket_uri(text: str) -> bool:
    return bool(re.match(r"^(s3|gs|gcs|azure|r2|cos|oci)://", text.strip(), re.IGNORECASE)) or bool(
        re.match(r"^https://[a-z0-9]+\.blob\.core\.windows\.net/", text.strip(), re.IGNORECASE)
    )


@dataclass(frozen=True)
class TaskSpec:
    """A validated task: what to run, on how many nodes, with what resources and data."""

    name: str | None = None
    resources: ResourceRequest = field(default_factory=ResourceRequest)
    num_nodes: int = 1
    workdir: str | dict[str, Any] | None = None
    file_mounts: dict[str, Any] = field(default_factory=dict)
    setup: str | None = None
    run: str | None = None
    envs: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, float] = field(default_factory=dict)
    input_regions: dict[str, str] = field(default_factory=dict)  # bucket URI -> its region, when known
    outputs: dict[str, float] = field(default_factory=dict)
    estimated_runtime_hours: float = 1.0
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(
        cls,
        path_or_text: str | os.PathLike[str],
        secrets: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
    ) -> TaskSpec:
        """Parse a task file path or YAML text. A one-line string ending in .yaml/.yml is a path."""
        text = os.fspath(path_or_text)
        if "\n" not in text and os.path.isdir(text):
            inside = sorted(p for p in os.listdir(text) if p.endswith((".yaml", ".yml")))[:3]
            hint = f", e.g. {os.path.join(text, inside[0])!r}" if inside else ""
            raise _fail(f"Task path {text!r} is a directory, not a task file", f"pass the task YAML file{hint}")
        looks_like_path = "\n" not in text and (text.endswith((".yaml", ".yml")) or os.path.isfile(text))
        if looks_like_path:
            if not os.path.isfile(text):
                raise _fail(f"Task file {text!r} does not exist", "pass the path of a task YAML file")
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise _fail(f"Task YAML does not parse: {exc}", "fix the YAML syntax at the line shown") from None
        if len(docs) != 1:
            raise _fail(
                f"Task YAML holds {len(docs)} documents",
                "put exactly one task in the file (pipelines of tasks are not supported)",
            )
        return cls.from_dict(docs[0], secrets, envs)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
    ) -> TaskSpec:
        """``secrets`` and ``envs`` are given at launch (SkyPilot's ``--secret`` and ``--env``): they
        fill the task's null entries and override its values, so secret values need not live in
        the task itself."""
        if not isinstance(data, Mapping):
            raise _fail(
                f"A task must be a mapping, got {type(data).__name__}", "write keys such as resources, run"
            )
        for key in data:
            if key not in TOP_LEVEL_KEYS and key not in PASSTHROUGH_TOP_LEVEL_KEYS:
                raise _unknown_key_error(key, "the task", TOP_LEVEL_KEYS + PASSTHROUGH_TOP_LEVEL_KEYS)
        num_nodes = data.get("num_nodes")
        inputs, input_regions = _parse_sizes(data.get("inputs"), "inputs")
        runtime = data.get("estimated_runtime_hours", 1.0)
        try:
            runtime = float(runtime)
        except (TypeError, ValueError):
            runtime = -1.0
        if not runtime > 0:
            raise _fail(
                f"estimated_runtime_hours is {data.get('estimated_runtime_hours')!r}", "write hours > 0"
            )
        return cls(
            name=str(data["name"]) if data.get("name") is not None else None,
            resources=ResourceRequest.from_dict(data.get("resources")),
            num_nodes=_parse_positive_int(num_nodes, "num_nodes") if num_nodes is not None else 1,
            workdir=_parse_workdir(data.get("workdir")),
            file_mounts=_parse_file_mounts(data.get("file_mounts")),
            setup=_parse_command(data.get("setup"), "setup"),
            run=_parse_command(data.get("run"), "run"),
            envs=_parse_overridable(data.get("envs"), envs or {}, "envs", "--env", "envs="),
            secrets=_parse_secrets(data.get("secrets"), secrets or {}),
            inputs=inputs,
            input_regions=input_regions,
            outputs=_parse_sizes(data.get("outputs"), "outputs")[0],
            estimated_runtime_hours=runtime,
            extras={k: data[k] for k in PASSTHROUGH_TOP_LEVEL_KEYS if k in data},
        )

    def input_data(self) -> dict[str, float | None]:
        """Bucket URIs the task reads -> size in GB when known (``inputs``), else None."""
        out: dict[str, float | None] = {}
        for source in self.file_mounts.values():
            uri = source.get("source") if isinstance(source, Mapping) else source
            for item in uri if isinstance(uri, list) else [uri]:
                if isinstance(item, str) and _bucket_uri(item):
                    out.setdefault(item, None)
        for uri, size in self.inputs.items():
            out[uri] = size
        return out

    def to_dict(self) -> dict[str, Any]:
        """SkyPilot-shaped mapping (JSON- and YAML-safe); from_dict(to_dict()) == self."""
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        resources = self.resources.to_dict()
        if resources:
            out["resources"] = resources
        if self.num_nodes != 1:
            out["num_nodes"] = self.num_nodes
        for key in ("workdir", "setup", "run"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("file_mounts", "envs", "secrets", "outputs"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.inputs:
            out["inputs"] = {
                uri: {"size_gb": gb, "region": self.input_regions[uri]} if uri in self.input_regions else gb
                for uri, gb in self.inputs.items()
            }
        if self.estimated_runtime_hours != 1.0:
            out["estimated_runtime_hours"] = self.estimated_runtime_hours
        out.update(self.extras)
        return out


def _parse_workdir(value: Any) -> str | dict[str, Any] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "url" in value:
        return dict(value)
    raise _fail(f"workdir is {value!r}", "write a local directory path, or {url: GIT_URL, ref: REF}")


def _parse_file_mounts(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail("file_mounts must be a mapping", "write REMOTE_PATH: LOCAL_PATH_OR_BUCKET_URI lines")
    out: dict[str, Any] = {}
    for remote, source in value.items():
        if not isinstance(source, (str, Mapping)):
            raise _fail(
                f"file_mounts[{remote!r}] is {source!r}",
                "give a local path, a bucket URI such as s3://bucket/prefix, or a storage mapping",
            )
        out[str(remote)] = dict(source) if isinstance(source, Mapping) else source
    return out


def _parse_command(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _fail(
        f"{key} is a {type(value).__name__}", f"write {key} as a shell command string (use | for many lines)"
    )


def _parse_str_map(value: Any, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"{key} must be a mapping", f"write {key}: {{NAME: value}}")
    out = {}
    for name, item in value.items():
        if item is None:
            raise _fail(f"{key}.{name} has no value", f"give {name} a value in the task file")
        if isinstance(item, (dict, list)):
            raise _fail(f"{key}.{name} is a {type(item).__name__}", "write a plain string or number")
        out[str(name)] = str(item).lower() if isinstance(item, bool) else str(item)
    return out


def _parse_overridable(value: Any, given: Mapping[str, str], key: str, flag: str, argument: str) -> dict[str, str]:
    """The task's ``key`` mapping with launch-time values on top; a null still left was never given.

    ``NAME: null`` is SkyPilot's way to say "given at launch" (``flag`` on the command line,
    ``argument`` on SkyLaunchOperator), so the error names both.
    """
    if value is not None and not isinstance(value, Mapping):
        raise _fail(f"{key} must be a mapping", f"write {key}: {{NAME: value}}, or NAME: null to give it at launch")
    merged = {**(value or {}), **given}
    missing = sorted(str(name) for name, item in merged.items() if item is None)
    if missing:
        first = missing[0]
        raise _fail(
            f"{key} {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no value",
            f"give {'it' if len(missing) == 1 else 'each'} at launch: airflow-sky launch {flag} {first}=VALUE, "
            f"or SkyLaunchOperator({argument}{{{first!r}: ...}}); or write the value in the task file",
        )
    return _parse_str_map(merged, key)


def _parse_secrets(value: Any, given: Mapping[str, str]) -> dict[str, str]:
    """The task's secrets with launch-time values on top (SkyPilot's rule), masked from here on."""
    parsed = _parse_overridable(value, given, "secrets", "--secret", "secrets=")
    redact.register(parsed)  # masked in every log line and error from here on
    return parsed


def _parse_sizes(value: Any, key: str) -> tuple[dict[str, float], dict[str, str]]:
    """``{uri: GB}`` (SkyPilot's form) or ``{uri: {size_gb: GB, region: REGION}}`` (ours, for placement)."""
    if value is None:
        return {}, {}
    if not isinstance(value, Mapping):
        raise _fail(
            f"{key} must be a mapping of bucket URI to size in GB", f"write {key}: {{s3://bucket/data: 100}}"
        )
    sizes: dict[str, float] = {}
    regions: dict[str, str] = {}
    for uri, item in value.items():
        size = item
        if isinstance(item, Mapping):
            unknown = [k for k in item if k not in ("size_gb", "region")]
            if unknown:
                raise _unknown_key_error(unknown[0], f"{key}[{uri!r}]", ("size_gb", "region"))
            size = item.get("size_gb")
            if item.get("region") is not None:
                regions[str(uri)] = str(item["region"])
        try:
            gb = float(size)
        except (TypeError, ValueError):
            gb = -1.0
        if not (math.isfinite(gb) and gb >= 0):
            raise _fail(
                f"{key}[{uri!r}] size {size!r} is not a number of GB", "write the size in GB, e.g. 250"
            )
        sizes[str(uri)] = gb
    return sizes, regions
