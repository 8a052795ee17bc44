"""`airflow-sky catalog refresh|show`: build price catalogs from the clouds' APIs, see which is used."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from airflow_provider_sky.launch.catalog.sources import (
    CLOUDS,
    PRICED_CLOUDS,
    cache_dir,
    choose_source,
    load_file,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("catalog", help="refresh or inspect the VM price catalogs")
    sub = parser.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    refresh = sub.add_parser("refresh", help="build a v8 vms.csv from a cloud's public price API")
    refresh.add_argument("--cloud", required=True, choices=PRICED_CLOUDS)
    refresh.add_argument("--out", metavar="DIR", help=f"catalog root (default {cache_dir()})")
    refresh.add_argument("--region", action="append", help="only these regions (repeat; default all)")
    refresh.set_defaults(handler=run_refresh)
    show = sub.add_parser("show", help="which source each cloud's prices come from, row counts, age")
    show.add_argument("--catalog-dir", metavar="DIR", help="SkyPilot v8 catalog dir to consider first")
    show.set_defaults(handler=run_show)


def run_refresh(args: argparse.Namespace) -> int:
    from airflow_provider_sky.launch.catalog.refresh import refresh_cloud

    root = Path(args.out).expanduser() if args.out else cache_dir()
    path, rows = refresh_cloud(args.cloud, root, regions=args.region, log=print)
    print(f"wrote {rows} rows to {path}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(f"{'cloud':6}  {'source':9}  {'rows':>6}  {'types':>5}  {'regions':>7}  {'age':>8}  path")
    for cloud in CLOUDS:
        choice = choose_source(cloud, args.catalog_dir)
        cat = load_file(cloud, choice.path, choice.source)
        age_h = (time.time() - choice.path.stat().st_mtime) / 3600.0
        print(
            f"{cloud:6}  {choice.source:9}  {len(cat):>6}  {len(cat.itype_names):>5}  "
            f"{len(cat.region_names):>7}  {age_h:>7.1f}h  {choice.path}"
        )
        if cat.dropped:
            print("        skipped: " + ", ".join(f"{k}: {v}" for k, v in sorted(cat.dropped.items())))
    return 0
