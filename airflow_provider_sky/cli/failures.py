"""Problems of the machine around a command (disk, network, cloud sign-in) as one user error.

`airflow-sky` must never answer a full disk or an unreachable endpoint with a traceback: those
are for the user to fix, not bugs. :func:`explain` recognises them, by exception class name so
no cloud SDK is imported to check, and says what went wrong and what to do; anything it does
not recognise is a bug and keeps its traceback. `-v` shows the traceback of either kind.
"""

from __future__ import annotations

import errno
from urllib.error import URLError

from airflow_provider_sky.errors import SkyUserError

# Exception classes (module root . class name) of the cloud SDKs that mean "signed out" or
# "cannot reach the service", with the fix to print.
_SDK_PROBLEMS = {
    "botocore.NoCredentialsError": (
        "No AWS credentials were found",
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, pass --aws-profile or --aws-conn-id, "
        "or run on a machine with an instance role",
    ),
    "botocore.EndpointConnectionError": (
        "Cannot connect to the AWS endpoint",
        "check the endpoint URL (--aws-endpoint-url / --s3-endpoint-url) and the network",
    ),
    "botocore.ConnectTimeoutError": (
        "The AWS endpoint did not answer in time",
        "check the endpoint URL and the network",
    ),
    "google.DefaultCredentialsError": (
        "No Google Cloud credentials were found",
        "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS or pass --gcp-key-path",
    ),
    "google.TransportError": ("Cannot reach Google Cloud", "check the endpoint URL and the network"),
    "azure.ClientAuthenticationError": (
        "Azure refused the credentials",
        "check the account key, SAS token or connection string (a SAS token may have expired)",
    ),
    "azure.ServiceRequestError": ("Cannot reach the Azure endpoint", "check the account URL and the network"),
}


def explain(exc: BaseException) -> SkyUserError | None:
    """The user-fixable problem behind `exc`, or None when it is a bug (keep the traceback)."""
    for cls in type(exc).__mro__:
        known = _SDK_PROBLEMS.get(f"{cls.__module__.split('.')[0]}.{cls.__name__}")
        if known is not None:
            return SkyUserError(f"{known[0]} ({_first_line(exc)})", known[1])
    if isinstance(exc, OSError):
        return _os_problem(exc)
    return None


def _os_problem(exc: OSError) -> SkyUserError:
    where = f" at {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SkyUserError(f"No space left on the device{where}", "free space there or choose another destination")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return SkyUserError(f"Not allowed: {exc.strerror}{where}", "choose a path you may write, or fix permissions")
    if isinstance(exc, URLError):  # urllib wraps the socket error that says why
        return SkyUserError(f"Cannot reach the service ({exc.reason})", "check the network, proxy and endpoint")
    if exc.errno is not None and exc.strerror:
        return SkyUserError(f"{exc.strerror}{where}", "check the path or address given and try again")
    return SkyUserError(f"A network or file operation failed ({_first_line(exc)})", "check the network and the "
                        "endpoints given (run with -v for the detail)")  # fmt: skip


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
