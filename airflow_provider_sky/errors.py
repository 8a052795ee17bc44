"""Exception types shared by every layer.

Users meet these in task logs and on the command line, so each carries the problem and the fix
as separate parts: the message always reads "PROBLEM. Fix: FIX". Messages must never contain a
secret; callers pass names (bucket, connection id), never credential values.
"""

from __future__ import annotations


class SkyError(Exception):
    """Base class for every error this package raises on purpose."""


class SkyUserError(SkyError):
    """Bad input or environment that the user can fix; raised before any side effect."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")
        super().__init__(f"{self.problem}. Fix: {self.fix}.")


class StoreError(SkyError):
    """A storage operation failed in a way the user did not cause (network, server error)."""


class IntegrityError(SkyError):
    """Bytes read and bytes written disagree; the destination object was not kept."""
