"""Google Cloud Storage (and fake-gcs-server) as an ObjectStore.

GCS has no S3-style multipart upload, so a multipart write uploads each part as a hidden
temporary object under `.sky-parts/<upload-id>/`, then `compose`s them (at most 32 sources per
call, so large uploads compose in rounds) into the destination and deletes the temporaries.
Every temporary object carries the destination key in its metadata, which is how
`abort_stale_uploads` finds what a killed run left behind (only objects under our reserved
prefix are ever touched). Listings hide `.sky-parts/`.

An upload id starts with a hash of the destination key, so a rerun after a kill lists
`.sky-parts/<hash>-*` and adopts the leftover upload with the most parts: a part is kept
when its size, CRC32C and MD5 (which GCS computed) match the source chunk just read, and is
uploaded again otherwise. Other leftovers of the same key are deleted.

Each write sends the expected md5Hash with the object metadata (GCS refuses a body that does not
match) and compares the md5Hash the server reports, deleting the object on a mismatch, which
also covers servers that do not check.
"""

from __future__ import annotations

import builtins  # a store has a list() method: annotations in its class body must not mean it
import contextlib
import hashlib
import http.client
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

import google.auth
import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as AuthRequest
from google.cloud import storage  # type: ignore[attr-defined]  # a namespace package

from airflow_provider_sky.credentials import GcpCredentials
from airflow_provider_sky.errors import IntegrityError, SkyUserError, StoreError
from airflow_provider_sky.stores._common import (
    DEFAULT_PAGE_SIZE,
    OCTET_STREAM,
    POOL_SIZE,
    RESERVED_PREFIX,
    b64_to_hex,
    is_reserved,
    lower_keys,
    md5_b64,
    probe_key,
)
from airflow_provider_sky.stores._http import ConnectionPool, direct_http_possible
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore, PartLimits

_log = logging.getLogger(__name__)
SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
COMPOSE_LIMIT = 32  # sources per compose request, a GCS rule
DEST_KEY_METADATA = "sky-dest-key"  # on temporary part objects: the key they will become
# Writes are made idempotent by us (same key, same bytes), so they may be retried like reads.
_RETRY = Retry(initial=0.5, maximum=8.0, multiplier=2.0, timeout=120.0)
# A bucket check answers a user who waits: give up on an unreachable endpoint quickly.
_CHECK_RETRY = Retry(initial=0.2, maximum=2.0, multiplier=2.0, timeout=5.0)
_TIMEOUT = (10, 120)
_CLEANUP_THREADS = 8
_KEY_HASH = 24  # hex digits of sha256(key) that start the upload ids of that key
_FAILURES = (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError, requests.exceptions.RequestException)
PUBLIC_ENDPOINT = "https://storage.googleapis.com"


class GcsStore(ObjectStore):
    """Every bucket reachable with one set of Google credentials."""

    scheme = "gs"
    # compose has no minimum part size; 10,000 parts keeps the compose tree at three rounds.
    part_limits = PartLimits(min_part_size=1, max_part_size=5 * 1024**3, max_parts=10_000)

    def __init__(
        self, credentials: GcpCredentials, *, page_size: int = DEFAULT_PAGE_SIZE, pool_size: int = POOL_SIZE
    ) -> None:
        google_credentials, project = _google_credentials(credentials)
        session = AuthorizedSession(google_credentials)
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        options = {"api_endpoint": credentials.endpoint_url} if credentials.endpoint_url else None
        self._client = storage.Client(
            project=project or "<none>", credentials=google_credentials, _http=session, client_options=options
        )
        self._page_size = page_size
        self._credentials = google_credentials
        self._auth_request = AuthRequest(session)
        endpoint = credentials.endpoint_url or PUBLIC_ENDPOINT
        # Ranged reads go straight to the media endpoint (see stores/_http.py for why).
        self._media = ConnectionPool(endpoint, size=pool_size) if direct_http_possible(endpoint) else None
        self._where = f"endpoint {credentials.endpoint_url}" if credentials.endpoint_url else "Google Cloud"
        if project:
            self._where += f", project {project}"

    # -- checks -----------------------------------------------------------------------------------

    def check_bucket(self, bucket: str, *, write: bool) -> None:
        with self._translate(bucket, f"list gs://{bucket}", write=write):
            blobs = self._client.list_blobs(bucket, max_results=1, timeout=_TIMEOUT, retry=_CHECK_RETRY)
            next(iter(blobs), None)
        if write:
            # A tiny hidden object written and deleted proves storage.objects.create and .delete,
            # both of which multipart writes need.
            blob = self._client.bucket(bucket).blob(probe_key())
            with self._translate(bucket, f"write gs://{bucket}", write=True):
                blob.upload_from_string(b"", content_type=OCTET_STREAM, timeout=_TIMEOUT)
            with self._translate(bucket, f"delete from gs://{bucket}", write=True):
                blob.delete(timeout=_TIMEOUT)

    # -- reads ------------------------------------------------------------------------------------

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        blobs = self._client.list_blobs(bucket, prefix=prefix or None, page_size=self._page_size, timeout=_TIMEOUT)
        with self._translate(bucket, f"list gs://{bucket}/{prefix}"):
            for blob in blobs:  # the iterator fetches one page at a time
                if not is_reserved(blob.name, prefix):
                    yield _info(blob)

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        with self._translate(bucket, f"stat gs://{bucket}/{key}"):
            blob = self._client.bucket(bucket).get_blob(key, timeout=_TIMEOUT)
        return _info(blob) if blob is not None else None

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        if self._media is None:
            return self._read_range_sdk(bucket, key, offset, length)
        media = self._media
        path = f"{media.base_path}/download/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}?alt=media"
        # gzip accepted: the stored bytes as they are, never decompressed on the way (raw download).
        headers = {"Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "gzip"}
        action = f"read gs://{bucket}/{key}"
        try:
            self._credentials.before_request(self._auth_request, "GET", f"{media.scheme}://{media.host}{path}", headers)
            response = media.request("GET", path, headers)
        except _FAILURES as exc:
            raise self._error(exc, bucket, action) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise StoreError(f"GCS {action} failed ({type(exc).__name__}: {exc}, {self._where})") from exc
        if response.status == 416:
            return b""  # offset at or past the end
        if response.status not in (200, 206):
            message = response.body[:500].decode(errors="replace")
            raise self._error(api_exceptions.from_http_status(response.status, message), bucket, action)
        if response.status == 200 and (offset or len(response.body) > length):
            return response.body[offset : offset + length]  # a server that ignored the Range header
        return response.body

    def _read_range_sdk(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """Through google-cloud-storage, for endpoints reached via a proxy from the environment."""
        blob = self._client.bucket(bucket).blob(key)
        try:
            # raw_download: the stored bytes as they are, never decompressed on the way.
            data: bytes = blob.download_as_bytes(
                start=offset, end=offset + length - 1, raw_download=True, checksum=None, timeout=_TIMEOUT
            )
            return data
        except api_exceptions.RequestRangeNotSatisfiable:
            return b""
        except _FAILURES as exc:
            raise self._error(exc, bucket, f"read gs://{bucket}/{key}") from exc

    # -- writes -----------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        blob = self._upload(bucket, key, data, md5, lower_keys(metadata))
        return _info(blob)

    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        return _GcsUpload(self, bucket, key, lower_keys(metadata))

    def resume_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        """Adopt the leftover upload of `key` with the most parts (module doc); delete the others."""
        uploads: dict[str, dict[int, tuple[int, str, str]]] = {}
        others: builtins.list[str] = []
        with self._translate(bucket, f"list temporary parts of gs://{bucket}/{key}"):
            for blob in self._client.list_blobs(bucket, prefix=f"{RESERVED_PREFIX}{_key_hash(key)}-"):
                if (blob.metadata or {}).get(DEST_KEY_METADATA) != key:
                    continue  # another key with the same hash prefix: not this upload
                upload_id, _, name = blob.name[len(RESERVED_PREFIX) :].partition("/")
                parts = uploads.setdefault(upload_id, {})
                if name.isdigit():
                    digests = (int(blob.size or 0), b64_to_hex(blob.crc32c) or "", b64_to_hex(blob.md5_hash) or "")
                    parts[int(name)] = digests
                else:
                    others.append(blob.name)  # an intermediate compose result: rebuilt if needed
        if not uploads:
            return self.start_multipart(bucket, key, metadata)
        chosen = max(uploads, key=lambda upload_id: len(uploads[upload_id]))
        stale = [_part_name(upload_id, n) for upload_id, parts in uploads.items() if upload_id != chosen for n in parts]
        self._delete_many(bucket, stale + others)
        return _GcsUpload(self, bucket, key, lower_keys(metadata), upload_id=chosen, stored=uploads[chosen])

    def delete(self, bucket: str, key: str) -> None:
        with (
            self._translate(bucket, f"delete gs://{bucket}/{key}"),
            contextlib.suppress(api_exceptions.NotFound),
        ):
            self._client.bucket(bucket).blob(key).delete(timeout=_TIMEOUT, retry=_RETRY)

    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        """Delete temporary parts whose destination key starts with `prefix`; count the uploads."""
        stale: dict[str, builtins.list[str]] = {}
        with self._translate(bucket, f"list gs://{bucket}/{RESERVED_PREFIX}"):
            for blob in self._client.list_blobs(bucket, prefix=RESERVED_PREFIX, page_size=self._page_size):
                dest = (blob.metadata or {}).get(DEST_KEY_METADATA)
                if dest is not None and dest.startswith(prefix):
                    stale.setdefault(blob.name[len(RESERVED_PREFIX) :].split("/", 1)[0], []).append(blob.name)
        self._delete_many(bucket, [name for names in stale.values() for name in names])
        return len(stale)

    def close(self) -> None:
        if self._media is not None:
            self._media.close()
        self._client.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _upload(self, bucket: str, name: str, data: bytes, md5: bytes, metadata: dict[str, str]) -> storage.Blob:
        """One verified object write: GCS checks md5Hash on arrival; we check what it reports."""
        blob = self._client.bucket(bucket).blob(name)
        blob.metadata = metadata or None
        blob.md5_hash = md5_b64(md5)
        with self._translate(bucket, f"write gs://{bucket}/{name}", write=True):
            blob.upload_from_string(data, content_type=OCTET_STREAM, timeout=_TIMEOUT, retry=_RETRY)
        if b64_to_hex(blob.md5_hash) != md5.hex():
            with contextlib.suppress(api_exceptions.GoogleAPIError):
                blob.delete(timeout=_TIMEOUT)
            raise IntegrityError(
                f"gs://{bucket}/{name} was stored with MD5 {b64_to_hex(blob.md5_hash)}, "
                f"expected {md5.hex()}; "
                "the object was deleted"
            )
        return blob

    def _delete_many(self, bucket: str, names: builtins.list[str]) -> None:
        """Delete objects concurrently: cleanup after a 10,000-part upload should take seconds."""
        if not names:
            return
        handle = self._client.bucket(bucket)

        def delete(name: str) -> None:
            with contextlib.suppress(api_exceptions.NotFound):
                handle.blob(name).delete(timeout=_TIMEOUT, retry=_RETRY)

        with self._translate(bucket, f"delete temporary parts in gs://{bucket}", write=True):
            if len(names) == 1:
                delete(names[0])
                return
            with ThreadPoolExecutor(min(_CLEANUP_THREADS, len(names))) as pool:
                list(pool.map(delete, names))

    @contextlib.contextmanager
    def _translate(self, bucket: str, action: str, *, write: bool = False) -> Iterator[None]:
        try:
            yield
        except _FAILURES as exc:
            raise self._error(exc, bucket, action, write=write) from exc

    def _error(self, exc: Exception, bucket: str, action: str, *, write: bool = False) -> Exception:
        where = self._where
        if isinstance(exc, api_exceptions.RetryError) and exc.cause is not None:
            exc = exc.cause  # retries ran out: report what kept failing
        message = str(getattr(exc, "message", "")) or type(exc).__name__
        # Listing or writing can only 404 on the bucket; a read may 404 on the object itself.
        bucket_missing = write or action.startswith("list") or "bucket" in message.lower()
        if isinstance(exc, api_exceptions.NotFound) and bucket_missing:
            return SkyUserError(
                f"GCS bucket '{bucket}' does not exist ({where})",
                f"create it with `gcloud storage buckets create gs://{bucket}`, or check the bucket name "
                "and the connection's project",
            )
        if isinstance(exc, api_exceptions.Unauthorized | auth_exceptions.RefreshError):
            return SkyUserError(
                f"Google Cloud rejected the credentials used for bucket '{bucket}' ({where})",
                "check key_path / keyfile_dict of the google_cloud_platform connection; the service "
                "account key may be wrong, deleted or disabled",
            )
        if isinstance(exc, auth_exceptions.DefaultCredentialsError):
            return SkyUserError(
                f"No Google Cloud credentials found for bucket '{bucket}'",
                "set key_path or keyfile_dict on the google_cloud_platform connection, or run "
                "`gcloud auth application-default login` on the worker",
            )
        if isinstance(exc, api_exceptions.Forbidden):
            role = "roles/storage.objectAdmin" if write else "roles/storage.objectViewer"
            return SkyUserError(
                f"Access denied to GCS bucket '{bucket}' ({action}, {where})",
                f"grant the connection's service account {role} on gs://{bucket}, or use a connection "
                "whose account has it",
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return SkyUserError(
                f"Cannot reach Google Cloud Storage for bucket '{bucket}' ({where})",
                "check the connection's endpoint and that the service is reachable from the worker",
            )
        code = getattr(exc, "code", "")
        return StoreError(f"GCS {action} failed ({code} {message}, {where})".replace("( ", "("))


class _GcsUpload(MultipartUpload):
    """Parts as hidden objects, assembled by compose; temporaries are deleted either way."""

    def __init__(
        self,
        store: GcsStore,
        bucket: str,
        key: str,
        metadata: dict[str, str],
        *,
        upload_id: str | None = None,
        stored: Mapping[int, tuple[int, str, str]] | None = None,
    ) -> None:
        self._store, self._bucket, self._key, self._metadata = store, bucket, key, metadata
        self.upload_id = upload_id or f"{_key_hash(key)}-{uuid.uuid4().hex[:16]}"
        self._temp_prefix = f"{RESERVED_PREFIX}{self.upload_id}/"
        self._stored = dict(stored or {})  # parts a killed run left: number -> (size, crc32c hex, md5 hex)
        self._parts: set[int] = set()
        self._lock = threading.Lock()

    def reuse_part(self, part_number: int, offset: int, length: int, md5: bytes | None, crc32c: int) -> bool:
        stored = self._stored.get(part_number)
        if stored is None or stored[0] != length or stored[1] != f"{crc32c:08x}":
            return False
        if md5 is not None and stored[2] != md5.hex():
            return False
        with self._lock:
            self._parts.add(part_number)
        return True

    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        self._store._upload(self._bucket, self._part_name(part_number), data, md5, self._temp_metadata())
        with self._lock:
            self._parts.add(part_number)

    def complete(self, md5: bytes | None = None) -> ObjectInfo:
        with self._lock:
            names = [self._part_name(n) for n in sorted(self._parts)]
        if not names:
            return self._store.put(
                self._bucket,
                self._key,
                b"",
                bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e"),
                self._metadata,
            )
        rounds = 0
        while len(names) > COMPOSE_LIMIT:
            groups = [names[i : i + COMPOSE_LIMIT] for i in range(0, len(names), COMPOSE_LIMIT)]
            targets = [f"{self._temp_prefix}r{rounds}-{i:05d}" for i in range(len(groups))]
            with ThreadPoolExecutor(min(_CLEANUP_THREADS, len(groups))) as pool:
                list(pool.map(self._compose, targets, groups, [self._temp_metadata()] * len(groups)))
            names, rounds = targets, rounds + 1
        self._compose(self._key, names, self._metadata)
        try:
            self.abort()  # removes every temporary object; the final object is outside the prefix
        except (StoreError, SkyUserError) as exc:
            # The object is complete; leftovers are hidden and `abort_stale_uploads` finds them.
            _log.warning("Temporary parts of gs://%s/%s were not all deleted: %s", self._bucket, self._key, exc)
        info = self._store.stat(self._bucket, self._key)
        if info is None:
            raise StoreError(f"gs://{self._bucket}/{self._key} is missing right after compose")
        return info

    def abort(self) -> None:
        store = self._store
        with store._translate(self._bucket, f"list temporary parts of gs://{self._bucket}/{self._key}"):
            names = [b.name for b in store._client.list_blobs(self._bucket, prefix=self._temp_prefix)]
        store._delete_many(self._bucket, names)

    def _compose(self, target: str, sources: builtins.list[str], metadata: dict[str, str]) -> None:
        handle = self._store._client.bucket(self._bucket)
        destination = handle.blob(target)
        destination.content_type = OCTET_STREAM
        destination.metadata = metadata or None
        with self._store._translate(self._bucket, f"compose gs://{self._bucket}/{target}", write=True):
            destination.compose([handle.blob(name) for name in sources], timeout=_TIMEOUT, retry=_RETRY)

    def _part_name(self, part_number: int) -> str:
        return _part_name(self.upload_id, part_number)

    def _temp_metadata(self) -> dict[str, str]:
        return {DEST_KEY_METADATA: self._key}


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:_KEY_HASH]


def _part_name(upload_id: str, part_number: int) -> str:
    return f"{RESERVED_PREFIX}{upload_id}/{part_number:05d}"


def _google_credentials(credentials: GcpCredentials) -> tuple[Any, str | None]:
    """google-auth credentials and project from our plain object; bad key material is a user error."""
    project = credentials.project_id
    if credentials.anonymous:
        return AnonymousCredentials(), project
    try:
        if credentials.service_account_info:
            google_credentials, key_project = google.auth.load_credentials_from_dict(
                dict(credentials.service_account_info), scopes=SCOPES
            )
        elif credentials.key_path:
            google_credentials, key_project = google.auth.load_credentials_from_file(
                credentials.key_path, scopes=SCOPES
            )
        else:
            google_credentials, key_project = google.auth.default(scopes=SCOPES)
    except auth_exceptions.DefaultCredentialsError as exc:
        source = (
            "keyfile_dict"
            if credentials.service_account_info
            else f"key file {credentials.key_path!r}"
            if credentials.key_path
            else "application default credentials"
        )
        raise SkyUserError(
            f"Google Cloud credentials from {source} could not be loaded ({_first_line(exc)})",
            "give the google_cloud_platform connection a valid service-account JSON (key_path or "
            "keyfile_dict), or run `gcloud auth application-default login` on the worker",
        ) from exc
    return google_credentials, project or key_project


def _first_line(exc: Exception) -> str:
    """The error's first line; google-auth messages name files and fields, never key material."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _mtime(blob: storage.Blob) -> float | None:
    """The object's ``updated`` time as unix seconds.

    ``Blob.updated`` parses the RFC 3339 text with a regex and ``strptime`` on every access (44 µs
    here); a listing of thousands of objects spent a third of a no-op sync in it. The JSON API's
    text (``2026-12-02T18:51:11.123Z``) is what ``datetime.fromisoformat`` reads in 2 µs; anything
    it does not read goes to the SDK's parser.
    """
    text = blob._properties.get("updated")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return blob.updated.timestamp() if blob.updated else None


def _info(blob: storage.Blob) -> ObjectInfo:
    checksums = {"etag": blob.etag} if blob.etag else {}
    if blob.md5_hash:
        checksums["md5"] = b64_to_hex(blob.md5_hash) or ""
    if blob.crc32c:
        checksums["crc32c"] = b64_to_hex(blob.crc32c) or ""
    return ObjectInfo(
        key=blob.name,
        size=int(blob.size or 0),
        etag=blob.etag,
        mtime=_mtime(blob),
        checksums=checksums,
        metadata=lower_keys(blob.metadata),
    )
