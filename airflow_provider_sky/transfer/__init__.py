"""The copy engine: list, diff, split into chunks, read, verify, write.

Public entry point: `run_copy(CopyRequest, StoreCredentials, progress, cancel) -> CopySummary`.
The stages (listing/diff -> chunk jobs -> reader -> writer) live in separate modules so a
gateway can later run the reader and the writer on different machines.
"""

from airflow_provider_sky.transfer.engine import CopyCancelled, run_copy
from airflow_provider_sky.transfer.progress import (
    LogProgress,
    PlannedAction,
    ProgressSink,
    ProgressSnapshot,
    TerminalProgress,
)
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.summary import CopySummary, DestinationSummary

__all__ = [
    "CopyCancelled",
    "CopyRequest",
    "CopySummary",
    "DestinationSummary",
    "LogProgress",
    "PlannedAction",
    "ProgressSink",
    "ProgressSnapshot",
    "TerminalProgress",
    "run_copy",
]
