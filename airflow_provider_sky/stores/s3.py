"""Amazon S3 (and S3-compatible endpoints such as moto or MinIO) as an ObjectStore.

One boto3 client per store: botocore clients are thread-safe, and their connection pool is sized
for the engine's thread pool. Every write carries Content-MD5 so S3 itself rejects corrupted
bytes (BadDigest), and multipart parts carry their own. Checksums are requested only "when
required" so S3-compatible servers that do not know the newer x-amz-checksum headers still work.

Which unfinished uploads are ours: ListMultipartUploads shows every writer's uploads but not
their metadata, so each upload we start gets a marker object, an empty hidden object named
`.sky-parts/uploads/<key>.<sha256(upload id)>.<sha256(metadata)>`, written right after the
upload is created and deleted when it completes or is aborted. An upload is ours only when S3
lists it *and* a marker names its key and the hash of its id; every other upload (another
tool's, a colleague's `aws s3 cp`) is never aborted. The metadata hash says whether a leftover
upload can be resumed: its metadata (our `sky-*` stamps) was fixed when it was created, so it
must be the metadata this run would give the object. Keys too long for a marker (within 69
bytes of S3's 1024) get no marker: their uploads are still aborted on failure, but a killed
run's leftover is neither resumed nor cleaned (a bucket lifecycle rule removes it).
"""

from __future__ import annotations

import builtins  # a store has a list() method: annotations in its class body must not mean it
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from airflow_provider_sky.credentials import AwsCredentials
from airflow_provider_sky.errors import IntegrityError, SkyUserError, StoreError
from airflow_provider_sky.stores._common import (
    DEFAULT_PAGE_SIZE,
    POOL_SIZE,
    RESERVED_PREFIX,
    b64_to_hex,
    is_plain_md5,
    is_reserved,
    lower_keys,
    md5_b64,
    probe_key,
    strip_quotes,
)
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore, PartLimits

_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "TokenRefreshRequired",
    "AuthFailure",
}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem"}
_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_KMS = {"aws:kms", "aws:kms:dsse"}
MARKER_PREFIX = f"{RESERVED_PREFIX}uploads/"
_ID_HASH, _META_HASH = 32, 16
_MARKER_TAIL = 1 + _ID_HASH + 1 + _META_HASH  # ".<id hash>.<metadata hash>" after the key
_MAX_KEY_BYTES = 1024
_EMPTY_MD5 = bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")


class S3Store(ObjectStore):
    """Every bucket reachable with one set of AWS credentials (one endpoint, one region)."""

    scheme = "s3"
    # S3's own rules: 5 MiB minimum for all but the last part, 5 GiB maximum, 10,000 parts.
    part_limits = PartLimits(min_part_size=5 * 1024**2, max_part_size=5 * 1024**3, max_parts=10_000)

    def __init__(
        self, credentials: AwsCredentials, *, page_size: int = DEFAULT_PAGE_SIZE, pool_size: int = POOL_SIZE
    ) -> None:
        self._credentials = credentials
        self._page_size = page_size
        config = Config(
            max_pool_connections=pool_size,
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=120,
            # Path-style URLs work on every S3-compatible endpoint; AWS itself prefers virtual hosts.
            s3={"addressing_style": "path"} if credentials.endpoint_url else {},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(
                botocore_session=_botocore_session(),
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
                region_name=credentials.region_name,
                profile_name=credentials.profile_name,
            )
            self._client = session.client(
                "s3", endpoint_url=credentials.endpoint_url, verify=credentials.verify, config=config
            )
        except ProfileNotFound as exc:
            raise SkyUserError(
                f"AWS profile {credentials.profile_name!r} is not configured on this machine",
                "create it with `aws configure --profile NAME`, or remove profile_name "
                "from the aws connection's extras",
            ) from exc
        region = self._client.meta.region_name
        self._where = f"endpoint {credentials.endpoint_url}" if credentials.endpoint_url else f"region {region}"

    # -- checks -----------------------------------------------------------------------------------

    def check_bucket(self, bucket: str, *, write: bool) -> None:
        with self._translate(bucket, write=write, what=f"list s3://{bucket}"):
            self._client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        if write:
            # A multipart upload started and aborted at once proves s3:PutObject and
            # s3:AbortMultipartUpload while leaving no object behind.
            key = probe_key()
            with self._translate(bucket, write=True, what=f"write to s3://{bucket}"):
                upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

    # -- reads ------------------------------------------------------------------------------------

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": self._page_size})
        with self._translate(bucket):
            for page in pages:  # each iteration fetches one page: the listing is never held whole
                for item in page.get("Contents", ()):
                    if is_reserved(item["Key"], prefix):
                        continue  # our upload markers
                    etag = strip_quotes(item.get("ETag"))
                    yield ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        etag=etag,
                        mtime=item["LastModified"].timestamp(),
                        # Only the ETag: a listing does not say whether an object is KMS-encrypted,
                        # and then its ETag is not an MD5. `stat` knows, and adds "md5" when safe.
                        checksums={"etag": etag} if etag else {},
                    )

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            head = self._client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                return None
            raise self._error(exc, bucket, f"stat s3://{bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, bucket, f"stat s3://{bucket}/{key}") from exc
        return _info_from_head(key, head)

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            response = self._client.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")
            body: bytes = response["Body"].read()
            return body
        except ClientError as exc:
            if _code(exc) == "InvalidRange":
                return b""  # offset at or past the end: nothing left to read
            raise self._error(exc, bucket, f"read s3://{bucket}/{key}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, bucket, f"read s3://{bucket}/{key}") from exc

    # -- writes -----------------------------------------------------------------------------------

    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        with self._translate(bucket, write=True, what=f"s3://{bucket}/{key}"):
            response = self._client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentMD5=md5_b64(md5), Metadata=lower_keys(metadata)
            )
        etag = strip_quotes(response.get("ETag"))
        if _etag_contradicts(response, md5):
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.delete_object(Bucket=bucket, Key=key)
            raise IntegrityError(
                f"s3://{bucket}/{key} was stored with MD5 {etag}, expected {md5.hex()}; the object was deleted"
            )
        checksums = {"md5": md5.hex()} | ({"etag": etag} if etag else {})
        return ObjectInfo(key=key, size=len(data), etag=etag, checksums=checksums, metadata=lower_keys(metadata))

    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        metadata = lower_keys(metadata)
        with self._translate(bucket, write=True, what=f"s3://{bucket}/{key}"):
            upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
        marker = marker_key(key, upload_id, metadata)
        upload = _S3Upload(self, bucket, key, upload_id, marker)
        if marker is not None:
            try:
                with self._translate(bucket, write=True, what=f"mark the upload of s3://{bucket}/{key}"):
                    self._client.put_object(Bucket=bucket, Key=marker, Body=b"", ContentMD5=md5_b64(_EMPTY_MD5))
            except BaseException:
                upload.abort()  # an unmarked upload could never be proven ours later
                raise
        return upload

    def resume_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        """Adopt our newest unfinished upload of `key` made with this metadata; abort our others."""
        metadata = lower_keys(metadata)
        if marker_key(key, "", metadata) is None:
            return self.start_multipart(bucket, key, metadata)
        ours = [u for u in self._our_uploads(bucket, key) if u.key == key]
        wanted = _digest(_canonical(metadata), _META_HASH)
        resumable = [u for u in ours if u.metadata_hash == wanted and u.upload_id]
        chosen = max(resumable, key=lambda u: u.initiated, default=None)
        for other in ours:
            if other is not chosen:
                self._abort_ours(bucket, other)
        if chosen is None:
            return self.start_multipart(bucket, key, metadata)
        stored: dict[int, tuple[int, str]] = {}
        paginator = self._client.get_paginator("list_parts")
        with self._translate(bucket, write=True, what=f"list parts of s3://{bucket}/{key}"):
            for page in paginator.paginate(Bucket=bucket, Key=key, UploadId=chosen.upload_id):
                for part in page.get("Parts", ()):
                    stored[int(part["PartNumber"])] = (int(part["Size"]), part["ETag"])
        return _S3Upload(self, bucket, key, chosen.upload_id, chosen.marker, stored)

    def delete(self, bucket: str, key: str) -> None:
        with self._translate(bucket, write=True, what=f"s3://{bucket}/{key}"):
            self._client.delete_object(Bucket=bucket, Key=key)  # S3 answers 204 for a missing key too

    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        """Abort the uploads under `prefix` that our markers prove are ours; drop orphaned markers."""
        aborted = 0
        for upload in self._our_uploads(bucket, prefix):
            aborted += self._abort_ours(bucket, upload)
        return aborted

    def _our_uploads(self, bucket: str, prefix: str) -> builtins.list[_OurUpload]:
        """Our unfinished uploads under `prefix`, and markers whose upload is gone (upload_id "")."""
        markers: dict[tuple[str, str], tuple[str, str]] = {}  # (key, id hash) -> (marker, metadata hash)
        with self._translate(bucket, write=True, what=f"list upload markers in s3://{bucket}"):
            for page in self._client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=MARKER_PREFIX + prefix
            ):
                for item in page.get("Contents", ()):
                    parsed = _parse_marker(item["Key"])
                    if parsed is not None:
                        markers[parsed[0], parsed[1]] = (item["Key"], parsed[2])
        if not markers:
            return []  # nothing of ours: do not even list other writers' uploads
        ours = []
        with self._translate(bucket, write=True, what=f"list unfinished uploads in s3://{bucket}"):
            for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
                for upload in page.get("Uploads", ()):
                    found = markers.pop((upload["Key"], _digest(upload["UploadId"], _ID_HASH)), None)
                    if found is not None:
                        initiated = upload.get("Initiated")
                        when = initiated.timestamp() if initiated else 0.0
                        ours.append(_OurUpload(upload["Key"], upload["UploadId"], found[0], found[1], when))
        # Markers left without their upload (completed or aborted just before a kill).
        ours.extend(_OurUpload(key, "", marker, meta, 0.0) for (key, _id), (marker, meta) in markers.items())
        return ours

    def _abort_ours(self, bucket: str, upload: _OurUpload) -> int:
        """Abort one of our uploads (or only delete an orphaned marker); 1 when an upload was aborted."""
        if not upload.upload_id:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._client.delete_object(Bucket=bucket, Key=upload.marker)
            return 0
        _S3Upload(self, bucket, upload.key, upload.upload_id, upload.marker).abort()
        return 1

    def close(self) -> None:
        self._client.close()

    # -- errors -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, bucket: str, *, write: bool = False, what: str = "") -> Iterator[None]:
        """Turn botocore failures into SkyUserError (the user can fix it) or StoreError."""
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, bucket, what or f"access s3://{bucket}", write=write) from exc

    def _error(self, exc: Exception, bucket: str, action: str, *, write: bool = False) -> Exception:
        code = _code(exc) if isinstance(exc, ClientError) else ""
        where = self._where
        if code == "NoSuchBucket":
            return SkyUserError(
                f"S3 bucket '{bucket}' does not exist ({where})",
                f"create it with `aws s3 mb s3://{bucket}`, or check the bucket name and the "
                "connection's region/endpoint",
            )
        if code in _BAD_CREDENTIALS:
            return SkyUserError(
                f"S3 rejected the credentials used for bucket '{bucket}' ({code}, {where})",
                "check the access key id and secret (login/password or aws_access_key_id/"
                "aws_secret_access_key extras) of the aws connection; they may be wrong, "
                "expired or revoked",
            )
        if code in _DENIED:
            needed = "s3:ListBucket, s3:GetObject"
            if write:
                needed += (
                    ", s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload, s3:ListBucketMultipartUploads, "
                    "s3:ListMultipartUploadParts"
                )
            return SkyUserError(
                f"Access denied to S3 bucket '{bucket}' ({action}, {where})",
                f"grant the connection's identity {needed} on arn:aws:s3:::{bucket} and "
                f"arn:aws:s3:::{bucket}/*, or use a connection whose identity has them",
            )
        if code in _WRONG_REGION:
            return SkyUserError(
                f"S3 bucket '{bucket}' is in another region than the connection's ({where})",
                "set region_name in the aws connection's extras to the bucket's region",
            )
        if isinstance(exc, NoCredentialsError):
            return SkyUserError(
                f"No AWS credentials found for S3 bucket '{bucket}'",
                "set login/password (access key id/secret) on the aws connection, or give "
                "the worker an instance role or AWS_PROFILE",
            )
        if isinstance(exc, EndpointConnectionError):
            return SkyUserError(
                f"Cannot reach S3 for bucket '{bucket}' ({where})",
                "check endpoint_url/region_name in the aws connection and that the "
                "service is running and reachable from the worker",
            )
        if code in ("BadDigest", "InvalidDigest"):
            return IntegrityError(f"S3 rejected the bytes of {action}: they do not match their MD5 ({code})")
        response = getattr(exc, "response", None) or {}
        detail = f"{code}: {response.get('Error', {}).get('Message', '')}" if code else type(exc).__name__
        return StoreError(f"S3 {action} failed ({detail}, {where})")


class _S3Upload(MultipartUpload):
    """An S3 multipart upload; part ETags are collected under a lock from many threads."""

    def __init__(
        self,
        store: S3Store,
        bucket: str,
        key: str,
        upload_id: str,
        marker: str | None,
        stored: Mapping[int, tuple[int, str]] | None = None,
    ) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self.upload_id = upload_id
        self._marker = marker
        self._stored = dict(stored or {})  # parts an interrupted run uploaded: number -> (size, ETag)
        self._etags: dict[int, str] = {}
        self._lock = threading.Lock()

    def reuse_part(self, part_number: int, offset: int, length: int, md5: bytes | None, crc32c: int) -> bool:
        """A stored part is these bytes when its size matches and its ETag is their MD5.

        S3 checked each part against its Content-MD5 on arrival, and a part's ETag is its MD5
        unless the bucket encrypts with KMS; then nothing proves the bytes and the part is sent.
        """
        stored = self._stored.get(part_number)
        if stored is None or md5 is None or stored[0] != length:
            return False
        etag = strip_quotes(stored[1]) or ""
        if not is_plain_md5(etag) or etag.lower() != md5.hex():
            return False
        with self._lock:
            self._etags[part_number] = stored[1]
        return True

    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        store = self._store
        with store._translate(self._bucket, write=True, what=f"part {part_number} of s3://{self._bucket}/{self._key}"):
            response = store._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self.upload_id,
                PartNumber=part_number,
                Body=data,
                ContentMD5=md5_b64(md5),
            )
        if _etag_contradicts(response, md5):
            raise IntegrityError(
                f"Part {part_number} of s3://{self._bucket}/{self._key} was stored with MD5 "
                f"{strip_quotes(response.get('ETag'))}, expected {md5.hex()}"
            )
        with self._lock:
            self._etags[part_number] = response["ETag"]

    def complete(self, md5: bytes | None = None) -> ObjectInfo:
        if not self._etags:  # S3 needs at least one part; an empty object is one empty part
            self.upload_part(1, 0, b"", _EMPTY_MD5)
        with self._lock:
            parts = [{"ETag": etag, "PartNumber": n} for n, etag in sorted(self._etags.items())]
        store = self._store
        with store._translate(self._bucket, write=True, what=f"complete s3://{self._bucket}/{self._key}"):
            store._client.complete_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
            )
        self._drop_marker()
        info = store.stat(self._bucket, self._key)
        if info is None:
            raise StoreError(f"s3://{self._bucket}/{self._key} is missing right after its upload completed")
        return info

    def abort(self) -> None:
        try:
            self._store._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self.upload_id)
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":  # already aborted or completed: nothing to undo
                raise self._store._error(
                    exc, self._bucket, f"abort upload to s3://{self._bucket}/{self._key}", write=True
                ) from exc
        self._drop_marker()

    def _drop_marker(self) -> None:
        """The upload is finished either way; a marker left by a failure here is cleaned later."""
        if self._marker is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._store._client.delete_object(Bucket=self._bucket, Key=self._marker)
            self._marker = None


@dataclass(frozen=True)
class _OurUpload:
    """An unfinished upload proven ours by its marker (upload_id "" when only the marker is left)."""

    key: str
    upload_id: str
    marker: str
    metadata_hash: str
    initiated: float


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _canonical(metadata: Mapping[str, str]) -> str:
    return json.dumps(dict(metadata), sort_keys=True)


def marker_key(key: str, upload_id: str, metadata: Mapping[str, str]) -> str | None:
    """The marker that proves an upload of `key` is ours, or None when the key is too long for one."""
    marker = f"{MARKER_PREFIX}{key}.{_digest(upload_id, _ID_HASH)}.{_digest(_canonical(metadata), _META_HASH)}"
    return marker if len(marker.encode()) <= _MAX_KEY_BYTES else None


def _parse_marker(name: str) -> tuple[str, str, str] | None:
    """(key, upload id hash, metadata hash) from a marker's name; None for anything else."""
    if not name.startswith(MARKER_PREFIX) or len(name) < len(MARKER_PREFIX) + _MARKER_TAIL:
        return None
    key, tail = name[len(MARKER_PREFIX) : -_MARKER_TAIL], name[-_MARKER_TAIL:]
    if tail[0] != "." or tail[1 + _ID_HASH] != ".":
        return None
    return key, tail[1 : 1 + _ID_HASH], tail[2 + _ID_HASH :]


_loader_lock = threading.Lock()
_shared_loader: Any = None


def _botocore_session() -> botocore.session.Session:
    """A fresh botocore session that reuses one model loader for the whole process.

    Parsing botocore's service JSON is most of the cost of a new client (~150 ms); sharing the
    loader, which only caches read-only models, makes each further store almost free.
    """
    global _shared_loader
    session = botocore.session.get_session()
    with _loader_lock:
        if _shared_loader is None:
            _shared_loader = session.get_component("data_loader")
        else:
            session.register_component("data_loader", _shared_loader)
    return session


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _etag_contradicts(response: Mapping[str, Any], md5: bytes) -> bool:
    """True when the server's ETag is a plain MD5 that differs from ours.

    S3 already rejects a body that does not match Content-MD5 (BadDigest); this second look
    catches servers that ignore the header (moto does). KMS-encrypted objects have opaque ETags.
    """
    etag = strip_quotes(response.get("ETag"))
    if response.get("ServerSideEncryption") in _KMS or response.get("SSECustomerAlgorithm"):
        return False
    return etag is not None and is_plain_md5(etag) and etag.lower() != md5.hex()


def _checksums(etag: str | None, *, encrypted_with_kms: bool = False) -> dict[str, str]:
    """The ETag always; also "md5" when the ETag is a plain MD5 of the bytes (not multipart, not KMS)."""
    if not etag:
        return {}
    checksums = {"etag": etag}
    if is_plain_md5(etag) and not encrypted_with_kms:
        checksums["md5"] = etag.lower()
    return checksums


def _info_from_head(key: str, head: Mapping[str, Any]) -> ObjectInfo:
    etag = strip_quotes(head.get("ETag"))
    kms = head.get("ServerSideEncryption") in _KMS or bool(head.get("SSECustomerAlgorithm"))
    checksums = _checksums(etag, encrypted_with_kms=kms)
    crc32c = head.get("ChecksumCRC32C")
    if crc32c and "-" not in crc32c and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
        checksums["crc32c"] = b64_to_hex(crc32c) or ""
    modified = head.get("LastModified")
    return ObjectInfo(
        key=key,
        size=int(head.get("ContentLength", 0)),
        etag=etag,
        mtime=modified.timestamp() if modified else None,
        checksums=checksums,
        metadata=lower_keys(head.get("Metadata")),
    )
