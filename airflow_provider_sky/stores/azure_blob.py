"""Azure Blob Storage (and Azurite) as an ObjectStore, for one storage account.

The URI's "bucket" is a container. Multipart writes are block-blob writes: each part is a
staged block, and `complete` commits the block list with the metadata (and the whole blob's
Content-MD5 when the engine verified it, as rclone sets it). Until that commit nothing is
visible, so `abort` has nothing to delete: Azure discards uncommitted blocks by itself (after a
week, or at the next commit to the same blob name), and there is no API to remove them earlier.
`abort_stale_uploads` therefore has nothing to do and returns 0.

Our block ids are `sky1-<part number>-<MD5 of the block>`: the service checked each block
against that MD5 when it arrived, so a block id that carries our prefix proves both that the
block is ours and which bytes it holds. A rerun after a kill reads the blob's uncommitted block
list, keeps the blocks whose part number, length and MD5 match the source chunk, and its commit
discards every other uncommitted block (another writer's blocks are never committed by us).
Azure refuses a block whose id length differs from the blob's uncommitted ones, so our ids are
padded to the length already there (another tool's, or an older release's) when it is long
enough to hold ours.

Integrity: for every write the service returns the MD5 it computed over the bytes it received;
we compare it with the MD5 taken when the bytes were read at the source, which checks the
transport and the memory in between with one hash on the server and none here.

Metadata names must be C# identifiers on Azure, so '-' is stored as '_' and our `sky_*` stamps
are turned back into `sky-*` when read.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import http.client
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobBlock, BlobServiceClient, ContentSettings, ExponentialRetry

from airflow_provider_sky.credentials import AzureCredentials
from airflow_provider_sky.errors import IntegrityError, SkyUserError, StoreError
from airflow_provider_sky.stores import azure_listing
from airflow_provider_sky.stores._common import (
    DEFAULT_PAGE_SIZE,
    OCTET_STREAM,
    POOL_SIZE,
    is_reserved,
    probe_key,
    strip_quotes,
)
from airflow_provider_sky.stores._http import ConnectionPool, direct_http_possible
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore, PartLimits
from airflow_provider_sky.stores.names import azure_key_problem

# The SDK logs every request and response header at INFO; task logs need none of that.
_HTTP_LOG = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
if _HTTP_LOG.level == logging.NOTSET:
    _HTTP_LOG.setLevel(logging.WARNING)
_MAX_SINGLE_REQUEST = 256 * 1024**2  # puts and ranged reads up to this size are one request
_API_VERSION = "2021-08-06"  # for the direct Put Blob (see _SharedKeyPut); Azurite 3.35 and Azure accept it
_BAD_CREDENTIALS = {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
_DENIED = {
    "AuthorizationPermissionMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "AuthorizationSourceIPMismatch",
    "AuthorizationProtocolMismatch",
    "InsufficientAccountPermissions",
}


class AzureBlobStore(ObjectStore):
    """Every container of one storage account."""

    scheme = "azure"
    whole_md5_on_complete = True
    # Block blobs: up to 50,000 blocks of up to 4000 MiB each, no minimum block size.
    part_limits = PartLimits(min_part_size=1, max_part_size=4000 * 1024**2, max_parts=50_000)

    @staticmethod
    def key_problem(key: str) -> str | None:
        """Why `key` cannot be stored unchanged; the engine checks every key before copying."""
        return azure_key_problem(key)

    def __init__(
        self,
        account: str,
        credentials: AzureCredentials,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.account = account
        self._page_size = page_size
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        transport = RequestsTransport(
            session=session, session_owner=False, connection_timeout=10, read_timeout=120
        )
        options: dict[str, Any] = {
            "transport": transport,
            # First retries come after seconds, not the SDK default's 15 s; later ones still back off
            # to a minute for sustained throttling.
            "retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=6),
            "max_single_put_size": _MAX_SINGLE_REQUEST,
            "max_single_get_size": _MAX_SINGLE_REQUEST,
            "max_chunk_get_size": _MAX_SINGLE_REQUEST,
        }
        self._client = _service_client(account, credentials, options)
        self._direct_put = _SharedKeyPut.for_client(self._client, pool_size)
        self._where = f"account '{account}', endpoint {_safe_url(self._client.url)}"

    # -- checks -----------------------------------------------------------------------------------

    def check_bucket(self, bucket: str, *, write: bool) -> None:
        container = self._client.get_container_client(bucket)
        with self._translate(bucket, f"list azure://{self.account}/{bucket}", write=write):
            # One quick retry only: a user is waiting for this answer.
            next(iter(container.list_blobs(results_per_page=1, retry_total=1).by_page()), None)
        if write:
            # A tiny reserved blob written and deleted proves write and delete permission.
            blob = container.get_blob_client(probe_key())
            with self._translate(bucket, f"write to azure://{self.account}/{bucket}", write=True):
                blob.upload_blob(b"", overwrite=True)
                blob.delete_blob()

    # -- reads ------------------------------------------------------------------------------------

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        container = self._client.get_container_client(bucket)
        if azure_listing.available(container):
            with self._translate(bucket, f"list azure://{self.account}/{bucket}/{prefix}"):
                for blobs in azure_listing.list_pages(container, prefix, self._page_size):
                    for blob in blobs:
                        if not is_reserved(blob["name"], prefix):
                            yield _blob_info(blob)
            return
        items = container.list_blobs(
            name_starts_with=prefix or None, include=["metadata"], results_per_page=self._page_size
        )
        with self._translate(bucket, f"list azure://{self.account}/{bucket}/{prefix}"):
            for page in items.by_page():  # one request per page
                for props in page:
                    if not is_reserved(props.name, prefix):
                        yield _info(props)

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        if _dot_segment(key):
            return None  # such a name cannot exist on Azure (see _check_key)
        blob = self._client.get_blob_client(bucket, key)
        try:
            return _info(blob.get_blob_properties())
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise self._error(exc, bucket, f"stat {self._uri(bucket, key)}") from exc

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        _check_key(self._uri(bucket, key))
        blob = self._client.get_blob_client(bucket, key)
        try:
            return blob.download_blob(offset=offset, length=length, max_concurrency=1).readall()
        except HttpResponseError as exc:
            if exc.status_code == 416:
                return b""  # offset at or past the end
            raise self._error(exc, bucket, f"read {self._uri(bucket, key)}") from exc
        except AzureError as exc:
            raise self._error(exc, bucket, f"read {self._uri(bucket, key)}") from exc

    # -- writes -----------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        _check_key(self._uri(bucket, key))
        blob = self._client.get_blob_client(bucket, key)
        if self._direct_put is not None:
            return self._put_direct(bucket, key, data, md5, metadata)
        with self._translate(bucket, f"write {self._uri(bucket, key)}", write=True):
            response = blob.upload_blob(
                data,
                length=len(data),
                overwrite=True,
                metadata=_to_azure(metadata),
                content_settings=ContentSettings(content_type=OCTET_STREAM),
                max_concurrency=1,
            )
        if not _md5_matches(response, data, md5):
            with contextlib.suppress(AzureError):
                blob.delete_blob()
            raise IntegrityError(
                f"{self._uri(bucket, key)} was stored with different bytes than were read "
                f"(MD5 {md5.hex()} expected); the blob was deleted"
            )
        etag = strip_quotes(response.get("etag"))
        modified = response.get("last_modified")
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=etag,
            mtime=modified.timestamp() if modified else None,
            checksums={"md5": md5.hex(), **({"etag": etag} if etag else {})},
            metadata=_from_azure(_to_azure(metadata)),
        )

    def _put_direct(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        """One Put Blob carrying Content-MD5: the service refuses a body that does not match it."""
        assert self._direct_put is not None
        uri = self._uri(bucket, key)
        azure_metadata = _to_azure(metadata)
        try:
            status, headers, body = self._direct_put.put(bucket, key, data, md5, azure_metadata)
        except (OSError, http.client.HTTPException) as exc:
            raise StoreError(f"Azure write {uri} failed ({type(exc).__name__}: {exc}, {self._where})") from exc
        if status != 201:
            refused = _http_error(status, headers, body)
            if _is_md5_mismatch(refused):
                raise IntegrityError(
                    f"{uri} was stored with different bytes than were read (MD5 {md5.hex()} expected); "
                    "the service refused it"
                ) from refused
            raise self._error(refused, bucket, f"write {uri}", write=True) from refused
        reported = headers.get("Content-MD5")
        if reported and base64.b64decode(reported) != md5:
            with contextlib.suppress(AzureError):
                self._client.get_blob_client(bucket, key).delete_blob()
            raise IntegrityError(
                f"{uri} was stored with different bytes than were read (MD5 {md5.hex()} expected); the blob was deleted"
            )
        etag = strip_quotes(headers.get("ETag"))
        modified = headers.get("Last-Modified")
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=etag,
            mtime=email.utils.parsedate_to_datetime(modified).timestamp() if modified else None,
            checksums={"md5": md5.hex(), **({"etag": etag} if etag else {})},
            metadata=_from_azure(azure_metadata),
        )

    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        _check_key(self._uri(bucket, key))
        return _AzureUpload(self, bucket, key, metadata)

    def resume_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        """A block-blob write that may keep our uncommitted blocks of `key` (module doc)."""
        _check_key(self._uri(bucket, key))
        blob = self._client.get_blob_client(bucket, key)
        try:
            _committed, uncommitted = blob.get_block_list("uncommitted")
        except ResourceNotFoundError:
            uncommitted = []
        except AzureError as exc:
            raise self._error(exc, bucket, f"list blocks of {self._uri(bucket, key)}", write=True) from exc
        stored = {}
        for block in uncommitted:
            parsed = _parse_block_id(block.id)
            if parsed is not None:
                stored[parsed[0]] = (int(block.size), parsed[1], block.id)
        lengths = {len(base64.b64decode(block.id)) for block in uncommitted}
        id_length = lengths.pop() if len(lengths) == 1 else _BLOCK_ID_BYTES
        return _AzureUpload(self, bucket, key, metadata, stored, id_length=id_length)

    def delete(self, bucket: str, key: str) -> None:
        if _dot_segment(key):
            return  # such a name cannot exist on Azure (see _check_key)
        blob = self._client.get_blob_client(bucket, key)
        with (
            self._translate(bucket, f"delete {self._uri(bucket, key)}", write=True),
            contextlib.suppress(ResourceNotFoundError),
        ):
            blob.delete_blob()

    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        """Nothing to abort: uncommitted blocks are invisible and expire by themselves (module doc)."""
        return 0

    def close(self) -> None:
        if self._direct_put is not None:
            self._direct_put.pool.close()
        self._client.close()
        self._session.close()

    # -- errors -----------------------------------------------------------------------------------

    def _uri(self, bucket: str, key: str) -> str:
        return f"azure://{self.account}/{bucket}/{key}"

    @contextlib.contextmanager
    def _translate(self, bucket: str, action: str, *, write: bool = False) -> Iterator[None]:
        try:
            yield
        except AzureError as exc:
            raise self._error(exc, bucket, action, write=write) from exc

    def _error(self, exc: Exception, bucket: str, action: str, *, write: bool = False) -> Exception:
        raw_code = getattr(exc, "error_code", "") or ""
        code = str(getattr(raw_code, "value", raw_code))  # the SDK reports a str enum
        where = self._where
        if code == "ContainerNotFound" or (
            isinstance(exc, ResourceNotFoundError) and action.startswith("list")
        ):
            return SkyUserError(
                f"Azure container '{bucket}' does not exist ({where})",
                f"create it with `az storage container create --account-name {self.account} "
                f"--name {bucket}`, or check the container name and the connection's account",
            )
        if code in _BAD_CREDENTIALS or (isinstance(exc, ClientAuthenticationError) and code not in _DENIED):
            return SkyUserError(
                f"Azure rejected the credentials used for container '{bucket}' ({code or 'authentication'}, "
                f"{where})",
                "check the wasb connection's account key / connection string / SAS token (a SAS token may "
                "have expired) or its service principal (tenant_id, client id and secret)",
            )
        if code == "AuthorizationFailure":
            # Azure uses it for firewall rules and disabled shared keys, Azurite for bad signatures.
            return SkyUserError(
                f"Azure refused the credentials used for container '{bucket}' "
                f"(AuthorizationFailure, {where})",
                "check the wasb connection's account key / connection string / SAS token, and that the "
                "account's firewall and 'allow shared key access' settings admit this worker",
            )
        if code in _DENIED or getattr(exc, "status_code", None) == 403:
            needed = "Storage Blob Data Contributor" if write else "Storage Blob Data Reader"
            return SkyUserError(
                f"Access denied to Azure container '{bucket}' ({action}, {where})",
                f"grant the connection's identity the '{needed}' role on the container, or use a SAS token "
                f"with {'read, write, delete and list' if write else 'read and list'} permissions",
            )
        if isinstance(exc, ServiceRequestError):
            return SkyUserError(
                f"Cannot reach Azure Blob Storage for container '{bucket}' ({where})",
                "check the wasb connection's account URL / connection string and that the service is "
                "reachable from the worker",
            )
        reason = code or type(exc).__name__
        return StoreError(f"Azure {action} failed ({reason}, {where})")


class _AzureUpload(MultipartUpload):
    """A block-blob write: parts are staged blocks, committed in part order."""

    def __init__(
        self,
        store: AzureBlobStore,
        bucket: str,
        key: str,
        metadata: Mapping[str, str],
        stored: Mapping[int, tuple[int, str, str]] | None = None,
        *,
        id_length: int = 0,
    ) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self._id_length = id_length if _BLOCK_ID_BYTES <= id_length <= _MAX_BLOCK_ID_BYTES else _BLOCK_ID_BYTES
        self._metadata = _to_azure(metadata)
        self.upload_id = uuid.uuid4().hex
        self._blob = store._client.get_blob_client(bucket, key)
        self._stored = dict(stored or {})  # our uncommitted blocks: part -> (size, MD5 hex, block id)
        self._blocks: dict[int, str] = {}  # part number -> block id to commit
        self._lock = threading.Lock()

    def reuse_part(self, part_number: int, offset: int, length: int, md5: bytes | None, crc32c: int) -> bool:
        stored = self._stored.get(part_number)
        if stored is None or md5 is None or stored[0] != length or stored[1] != md5.hex():
            return False
        with self._lock:
            self._blocks[part_number] = stored[2]
        return True

    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        uri = self._store._uri(self._bucket, self._key)
        mismatch = IntegrityError(f"Part {part_number} of {uri} arrived with different bytes than were read")
        block_id = _block_id(part_number, md5, self._id_length)
        try:
            # Content-MD5 makes the service check the block on arrival (no second hash here).
            response = self._blob.stage_block(block_id, data, length=len(data), transactional_content_md5=md5)
        except HttpResponseError as exc:
            if _is_md5_mismatch(exc):
                raise mismatch from exc
            raise self._store._error(exc, self._bucket, f"stage part {part_number} of {uri}", write=True) from exc
        except AzureError as exc:
            raise self._store._error(exc, self._bucket, f"stage part {part_number} of {uri}", write=True) from exc
        reported = response.get("content_md5")
        if reported and bytes(reported) != md5:
            raise mismatch
        with self._lock:
            self._blocks[part_number] = block_id

    def complete(self, md5: bytes | None = None) -> ObjectInfo:
        with self._lock:
            blocks = [BlobBlock(self._blocks[n]) for n in sorted(self._blocks)]
        uri = self._store._uri(self._bucket, self._key)
        settings = ContentSettings(content_type=OCTET_STREAM, content_md5=bytearray(md5) if md5 else None)
        with self._store._translate(self._bucket, f"commit {uri}", write=True):
            self._blob.commit_block_list(blocks, metadata=self._metadata, content_settings=settings)
        info = self._store.stat(self._bucket, self._key)
        if info is None:
            raise StoreError(f"{uri} is missing right after its block list was committed")
        return info

    def abort(self) -> None:
        """Nothing was committed, so nothing is visible; the service expires the staged blocks."""


_BLOCK_PREFIX = "sky1-"
_BLOCK_ID_BYTES = len(_BLOCK_PREFIX) + 5 + 1 + 22  # prefix, part number, '-', base64url MD5 (no padding)
_MAX_BLOCK_ID_BYTES = 64  # an Azure rule


def _block_id(part_number: int, md5: bytes, length: int = _BLOCK_ID_BYTES) -> str:
    """Our block id: prefix, part number and the block's MD5, '-'-padded to `length` bytes."""
    digest = base64.urlsafe_b64encode(md5).decode().rstrip("=")
    return base64.b64encode(f"{_BLOCK_PREFIX}{part_number:05d}-{digest}".ljust(length, "-").encode()).decode()


def _parse_block_id(block_id: str) -> tuple[int, str] | None:
    """(part number, MD5 hex) from one of our block ids; None for another writer's block."""
    try:
        text = base64.b64decode(block_id, validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    core, padding = text[:_BLOCK_ID_BYTES], text[_BLOCK_ID_BYTES:]
    number, digest = core[len(_BLOCK_PREFIX) : len(_BLOCK_PREFIX) + 5], core[len(_BLOCK_PREFIX) + 6 :]
    if not core.startswith(_BLOCK_PREFIX) or not number.isdigit() or padding.strip("-"):
        return None
    try:
        md5 = base64.urlsafe_b64decode(digest + "==")
    except ValueError:
        return None
    return (int(number), md5.hex()) if len(md5) == 16 else None


class _SharedKeyPut:
    """Put Blob straight over a keep-alive pool, signed with the account key (Shared Key).

    The SDK spends ~1 ms of Python per small blob (policies, serialisation, requests); this
    request is the same one, signed as the SDK signs it, for a fraction of that. Only for
    account-key credentials reached without a proxy; anything else stays on the SDK.
    """

    def __init__(self, account_url: str, account_name: str, account_key: str, pool_size: int) -> None:
        self.pool = ConnectionPool(account_url, size=pool_size)
        self._account = account_name
        self._key = base64.b64decode(account_key)

    @classmethod
    def for_client(cls, client: BlobServiceClient, pool_size: int) -> _SharedKeyPut | None:
        credential = client.credential
        name, key = getattr(credential, "account_name", None), getattr(credential, "account_key", None)
        url = _safe_url(client.url)
        if not (isinstance(name, str) and isinstance(key, str)) or urlsplit(client.url).query:
            return None  # SAS, token or anonymous access: the SDK handles those
        if not direct_http_possible(url):
            return None
        return cls(url, name, key, pool_size)

    def put(
        self, container: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        path = f"{self.pool.base_path}/{quote(container, safe='')}/{quote(key, safe='~/')}"
        headers = {
            "x-ms-date": email.utils.formatdate(usegmt=True),
            "x-ms-version": _API_VERSION,
            "x-ms-blob-type": "BlockBlob",
            "x-ms-blob-content-type": OCTET_STREAM,
            **{f"x-ms-meta-{name}": value for name, value in metadata.items()},
        }
        md5_header = base64.b64encode(md5).decode()
        ordered = sorted((k.lower(), v.strip()) for k, v in headers.items())
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in ordered)
        length = str(len(data)) if data else ""
        to_sign = f"PUT\n\n\n{length}\n{md5_header}\n\n\n\n\n\n\n\n{canonical_headers}/{self._account}{path}"
        signature = base64.b64encode(hmac.new(self._key, to_sign.encode(), hashlib.sha256).digest()).decode()
        headers["Content-MD5"] = md5_header
        headers["Content-Length"] = str(len(data))
        headers["Authorization"] = f"SharedKey {self._account}:{signature}"
        response = self.pool.request("PUT", path, headers, data)
        return response.status, response.headers, response.body


def _http_error(status: int, headers: http.client.HTTPMessage, body: bytes) -> HttpResponseError:
    """The SDK's exception for a failed direct request, so _error() translates it the same way."""
    code = headers.get("x-ms-error-code") or ""
    text = body[:1000].decode(errors="replace")
    start, end = text.find("<Message>"), text.find("</Message>")
    message = text[start + 9 : end] if start >= 0 and end > start else text or f"HTTP {status}"
    kind = {404: ResourceNotFoundError, 409: ResourceExistsError, 401: ClientAuthenticationError}.get(
        status, ClientAuthenticationError if status == 403 else HttpResponseError
    )
    exc = kind(message=f"{message}\nErrorCode:{code}")
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]  # what the SDK sets on the errors it raises
    exc.message = message
    return exc


def _service_client(
    account: str, credentials: AzureCredentials, options: dict[str, Any]
) -> BlobServiceClient:
    """A client for `account` from whichever credential form the connection holds."""
    if credentials.connection_string:
        fields = _connection_string_fields(credentials.connection_string)
        _check_same_account(account, fields.get("accountname"), "connection string")
        try:
            return BlobServiceClient.from_connection_string(credentials.connection_string, **options)
        except ValueError as exc:
            raise SkyUserError(
                "The Azure connection string is malformed",
                "copy it again from the storage account's 'Access keys' page",
            ) from exc
    account_url = credentials.account_url or f"https://{account}.blob.core.windows.net"
    credential: Any
    if credentials.sas_token:
        token = credentials.sas_token
        if token.startswith("http"):  # a full SAS URL: account URL and token in one
            return BlobServiceClient(account_url=token, **options)
        credential = token.lstrip("?")
    elif credentials.account_key:
        _check_same_account(account, credentials.account_name, "account key")
        credential = {
            "account_name": credentials.account_name or account,
            "account_key": credentials.account_key,
        }
    elif credentials.tenant_id and credentials.client_id and credentials.client_secret:
        from azure.identity import ClientSecretCredential

        credential = ClientSecretCredential(
            credentials.tenant_id, credentials.client_id, credentials.client_secret
        )
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return BlobServiceClient(account_url=account_url, credential=credential, **options)


def _check_key(uri: str) -> None:
    """Refuse names a URL cannot carry: HTTP clients collapse '.' and '..' path segments."""
    if _dot_segment(uri.split("/", 4)[4]):
        raise SkyUserError(
            f"{uri} has a '.' or '..' path segment, which Azure Blob Storage cannot store unchanged",
            "rename the source object, or copy it to an S3, GCS or file:// destination",
        )


def _dot_segment(key: str) -> bool:
    return any(segment in (".", "..") for segment in key.split("/"))


def _check_same_account(account: str, named: str | None, what: str) -> None:
    if named and named.lower() != account.lower():
        raise SkyUserError(
            f"The Azure {what} is for storage account '{named}', but the URI names account '{account}'",
            f"use a wasb connection for account '{account}' or fix the account in the URI",
        )


def _connection_string_fields(connection_string: str) -> dict[str, str]:
    fields = {}
    for part in connection_string.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _safe_url(url: str) -> str:
    """The endpoint without any query string (a SAS token lives there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _is_md5_mismatch(exc: HttpResponseError) -> bool:
    """The service refused a body whose MD5 differs from the Content-MD5 sent with it."""
    code = str(getattr(exc, "error_code", "") or "")
    return exc.status_code == 400 and (code == "Md5Mismatch" or "md5" in str(exc.message or "").lower())


def _md5_matches(response: Mapping[str, Any], data: bytes, md5: bytes) -> bool:
    """Compare the MD5 the service computed on arrival; hash here only if it reported none."""
    reported = response.get("content_md5")
    if reported:
        return bytes(reported) == md5
    return hashlib.md5(data).digest() == md5


def _to_azure(metadata: Mapping[str, str]) -> dict[str, str]:
    return {k.lower().replace("-", "_"): v for k, v in metadata.items()}


def _from_azure(metadata: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for name, value in (metadata or {}).items():
        name = name.lower()
        out[name.replace("_", "-") if name.startswith("sky_") else name] = value
    return out


def _blob_info(blob: Mapping[str, Any]) -> ObjectInfo:
    """A blob's record, from a listing parsed by ``azure_listing`` or from the SDK's properties."""
    etag = strip_quotes(blob["etag"])
    checksums = {"etag": etag} if etag else {}
    if blob["md5"]:
        checksums["md5"] = blob["md5"].hex()
    return ObjectInfo(key=blob["name"], size=blob["size"], etag=etag, mtime=blob["mtime"], checksums=checksums,
                      metadata=_from_azure(blob["metadata"]))  # fmt: skip


def _info(props: Any) -> ObjectInfo:
    """The record of the SDK's ``BlobProperties`` (a stat, or the SDK's own listing)."""
    content_md5 = props.content_settings.content_md5 if props.content_settings else None
    modified = props.last_modified
    return _blob_info({
        "name": props.name, "size": int(props.size or 0), "etag": props.etag,
        "mtime": modified.timestamp() if modified else None,
        "md5": bytes(content_md5) if content_md5 else None, "metadata": props.metadata,
    })  # fmt: skip
