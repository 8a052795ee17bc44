"""`file://` as an object store: the embedded default, and the fastest way to test the engine.

Mapping: the bucket is always "" and a key is the absolute path without its leading '/', so
`file:///data/a.bin` is key `data/a.bin`.

Keys that cannot round-trip through a POSIX path are refused, never renamed: a leading '/', a
repeated '/', a trailing '/' on a non-empty object, or a '.'/'..' segment. Silently
collapsing `a//b` onto `a/b` could make two source objects overwrite each other, so
the engine checks every key up front and raises one SkyUserError listing the offenders
(`bad_keys`). Zero-byte keys ending in '/' are folder markers that other stores
create; the engine skips them for a file:// destination (directories appear on their own).

Writes are atomic: bytes go into a hidden temp file (`.sky-part-<name hash>-<id>`) next to the
target, parts land with pwrite in any order from any thread, and `complete` fsyncs and renames.
A killed run leaves only temp files, which `list` hides and `abort_stale_uploads` removes. A
rerun of the same copy adopts the largest temp file of the same name (`resume_multipart`) and
keeps each part whose bytes in it have the CRC32C of the source chunk just read; the rest are
written again.

Metadata (user metadata and our `sky-*` stamps) lives in one user xattr (`user.sky.meta`, JSON).
The xattr also records the file's mtime and size at write time, so a file edited in place
afterwards loses its stamps (and is recopied). On a filesystem without user xattrs metadata
is dropped: copies still work and `sync` compares size and mtime instead of stamps.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import logging
import os
import stat as file_mode
import threading
import uuid
from collections.abc import Iterator, Mapping

import google_crc32c

from airflow_provider_sky.errors import IntegrityError, SkyUserError, StoreError
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore, PartLimits

log = logging.getLogger(__name__)
TEMP_PREFIX = ".sky-part-"
XATTR_NAME = "user.sky.meta"


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a file path, or None when it maps cleanly."""
    if not key:
        return "empty key"
    if "\0" in key:
        return "contains a NUL byte"
    if key.startswith("/"):
        return "leading '/'"
    if "//" in key:
        return "repeated '/'"
    if key.endswith("/"):
        return "trailing '/'"
    if any(part in (".", "..") for part in key.split("/")):
        return "'.' or '..' segment"
    if any(part.startswith(TEMP_PREFIX) for part in key.split("/")):
        return f"name starts with {TEMP_PREFIX!r}, reserved for unfinished writes"
    return None


def bad_keys_error(bad: list[tuple[str, str]], total_bad: int, destination: str) -> SkyUserError:
    """One error naming the keys a file:// destination cannot hold, and what to do."""
    shown = "; ".join(f"{k!r} ({why})" for k, why in bad)
    more = f" and {total_bad - len(bad)} more" if total_bad > len(bad) else ""
    return SkyUserError(
        f"{total_bad} source key(s) cannot become file paths under {destination}: {shown}{more}",
        "rename those objects at the source (no leading, repeated or trailing '/', no '.' or '..'), "
        "or copy to an object store destination, which keeps keys exactly",
    )


def _etag(st: os.stat_result) -> str:
    """Changes whenever the file's content may have changed (mtime or size), like a web server's."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


class LocalStore(ObjectStore):
    """Directories as buckets; thread-safe.

    `fsync` (default: env `SKY_FILE_FSYNC`, else off) flushes each object to disk before its
    rename. Off by default, like cp, rsync and rclone: the rename is still atomic, and on
    this project's test disk an fsync cut large-file throughput by 2.5x.
    """

    scheme = "file"
    part_limits = PartLimits(min_part_size=1, max_part_size=2**62, max_parts=10_000_000)
    # Writes here happen in this process, so a CRC32C (which the engine computes anyway, at
    # ~10x MD5's speed) verifies them as well as an MD5 would: the engine then skips MD5
    # entirely, which roughly triples file:// -> file:// throughput.
    CRC32C_WRITES = True

    def __init__(self, *, fsync: bool | None = None) -> None:
        if fsync is None:
            fsync = os.environ.get("SKY_FILE_FSYNC", "").lower() in ("1", "true", "yes")
        self.fsync = fsync
        self._xattrs = True
        self._token = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        self._dirs: set[str] = set()  # directories known to exist: saves a mkdir per object

    # -- paths -----------------------------------------------------------------------------
    @staticmethod
    def key_problem(key: str) -> str | None:
        """Why `key` cannot be stored here unchanged; the engine checks every key up front."""
        return key_problem(key)

    @staticmethod
    def path_of(key: str) -> str:
        return "/" + key

    def _checked_path(self, bucket: str, key: str) -> str:
        self._check_bucket_name(bucket)
        why = key_problem(key)
        if why:
            raise bad_keys_error([(key, why)], 1, "file:///")
        return "/" + key

    @staticmethod
    def _check_bucket_name(bucket: str) -> None:
        if bucket:
            raise SkyUserError(f"file:// has no buckets, got {bucket!r}", "write file:///absolute/path")

    # -- metadata --------------------------------------------------------------------------
    def _read_meta(self, path: str, st: os.stat_result) -> dict[str, str]:
        """The stored metadata; our `sky-*` stamps only while the file is as we wrote it.

        A file edited in place keeps its xattrs, so the stamps would vouch for bytes we never
        wrote: the xattr records the etag (mtime, size) at write time, and stamps are dropped
        when the file no longer matches it.
        """
        if not self._xattrs:
            return {}
        try:
            raw = os.getxattr(path, XATTR_NAME)
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                self._xattrs = False
            return {}
        try:
            stored = json.loads(raw)
            meta = {str(k): str(v) for k, v in stored["metadata"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}
        if stored.get("written_etag") != _etag(st):
            meta = {k: v for k, v in meta.items() if not k.startswith("sky-")}
        return meta

    def _write_meta(self, fd: int, metadata: Mapping[str, str], st: os.stat_result) -> None:
        if not metadata or not self._xattrs:
            return
        stored = {"metadata": dict(metadata), "written_etag": _etag(st)}
        try:
            os.setxattr(fd, XATTR_NAME, json.dumps(stored, sort_keys=True).encode())
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise StoreError(f"Cannot store metadata on a local file: {exc}") from exc
            self._xattrs = False

    def _info(self, key: str, path: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(key, st.st_size, _etag(st), st.st_mtime, {}, self._read_meta(path, st))

    # -- ObjectStore -----------------------------------------------------------------------
    def check_bucket(self, bucket: str, *, write: bool) -> None:
        self._check_bucket_name(bucket)

    def check_writable(self, key: str) -> None:
        """Fail before copying if the destination path cannot be created by this user."""
        path = "/" + key.rstrip("/")
        probe = path
        while probe and not os.path.lexists(probe):
            probe = os.path.dirname(probe)
        probe = probe or "/"
        if probe != path and not os.path.isdir(probe):
            raise SkyUserError(
                f"Cannot write under file://{path}: file://{probe} is a file, not a directory",
                "choose a destination path whose parents are directories",
            )
        target_dir = probe if os.path.isdir(probe) else os.path.dirname(probe)
        if not os.access(target_dir, os.W_OK | os.X_OK):
            raise SkyUserError(
                f"No permission to write in file://{target_dir}",
                "choose a directory you own, or grant write permission on it",
            )

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first, one directory's entries sorted at a time (a directory sorts as "name/").

        Memory holds the entries of the directories on the current path, not the whole tree.
        Symlinks to files are followed; symlinks to directories are not (no cycles, no escapes).
        """
        self._check_bucket_name(bucket)
        head, _, name_prefix = prefix.rpartition("/")
        yield from self._walk("/" + head if head else "/", head + "/" if head else "", name_prefix)

    def _walk(self, dir_path: str, key_prefix: str, name_prefix: str) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(dir_path) as it:
                entries = [e for e in it if e.name.startswith(name_prefix) and not e.name.startswith(TEMP_PREFIX)]
        except (FileNotFoundError, NotADirectoryError):
            return
        except PermissionError as exc:
            raise SkyUserError(f"No permission to list file://{dir_path}", "grant read permission") from exc
        sortable = []
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file()
            except OSError:  # is_file() raises for a symlink loop
                is_dir = is_file = False
            if not is_dir and not is_file:  # a pipe, a device, a socket, a dangling link or a loop
                log.warning("Skipping file://%s: %s, not a regular file", entry.path, special_kind(entry.path))
                continue
            # A directory sorts as "name/" so keys come out in true lexicographic order.
            sortable.append((entry.name + "/" if is_dir else entry.name, entry, is_dir))
        sortable.sort(key=lambda t: t[0])
        for sort_name, entry, is_dir in sortable:
            if is_dir:
                yield from self._walk(entry.path, key_prefix + sort_name, "")
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            yield self._info(key_prefix + entry.name, entry.path, st)

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        self._check_bucket_name(bucket)
        if not key or key.endswith("/"):
            return None
        path = "/" + key
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(path):  # there is a name, but it leads nowhere
                raise _not_a_file(path, special_kind(path)) from None
            return None
        except OSError as exc:  # ELOOP: a symlink loop; the path exists but is no object
            raise _not_a_file(path, special_kind(path)) from exc
        if file_mode.S_ISDIR(st.st_mode):
            return None
        if not file_mode.S_ISREG(st.st_mode):
            raise _not_a_file(path, special_kind(path))
        return self._info(key, path, st)

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        self._check_bucket_name(bucket)
        try:
            fd = os.open("/" + key, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise StoreError(f"file:///{key} disappeared after it was listed") from exc
        except PermissionError as exc:
            raise SkyUserError(f"No permission to read file:///{key}", "grant read permission on it") from exc
        try:
            data = os.pread(fd, length, offset)
            if len(data) < length:  # short reads happen on some filesystems; finish the range
                parts = [data]
                got = len(data)
                while got < length:
                    more = os.pread(fd, length - got, offset + got)
                    if not more:
                        break
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
            return data
        finally:
            os.close(fd)

    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        self._checked_path(bucket, key)  # a bad key is the user's problem: say so first
        if hashlib.md5(data).digest() != md5:
            raise IntegrityError(f"{key!r} does not match the MD5 computed when it was read; nothing was written")
        return self._put(bucket, key, data, metadata)

    def put_crc32c(self, bucket: str, key: str, data: bytes, crc32c: int, metadata: Mapping[str, str]) -> ObjectInfo:
        """`put`, verified against the chunk's CRC32C instead of an MD5 (see CRC32C_WRITES)."""
        self._checked_path(bucket, key)
        if google_crc32c.value(data) != crc32c:
            raise IntegrityError(f"{key!r} does not match the CRC32C computed when it was read; nothing was written")
        return self._put(bucket, key, data, metadata)

    def _put(self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        path = self._checked_path(bucket, key)
        temp, fd = self._open_temp(path)
        try:
            _pwrite_all(fd, data, 0)
            st = self._seal(fd, metadata)
            os.close(fd)
            fd = -1
            self._publish(temp, path)
        except BaseException as exc:
            if fd >= 0:
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            if _is_full(exc):
                raise no_space_error(path, len(data)) from exc
            raise
        return ObjectInfo(key, st.st_size, _etag(st), st.st_mtime, {}, dict(metadata))

    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> LocalUpload:
        path = self._checked_path(bucket, key)
        temp, fd = self._open_temp(path)
        return LocalUpload(self, key, path, temp, fd, dict(metadata))

    def resume_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> LocalUpload:
        """Adopt the largest temp file an interrupted write of `key` left; remove the other ones."""
        path = self._checked_path(bucket, key)
        directory = os.path.dirname(path)
        start = os.path.basename(_temp_stem(path))
        try:
            with os.scandir(directory) as it:
                found = [(e.stat(follow_symlinks=False).st_size, e.path) for e in it if e.name.startswith(start)]
        except (FileNotFoundError, NotADirectoryError):
            found = []
        if not found:
            return self.start_multipart(bucket, key, metadata)
        found.sort()
        for _size, other in found[:-1]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(other)
        temp = found[-1][1]
        try:
            fd = os.open(temp, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            return self.start_multipart(bucket, key, metadata)
        return LocalUpload(self, key, path, temp, fd, dict(metadata), resumed=True)

    # -- write helpers ---------------------------------------------------------------------
    def _open_temp(self, path: str) -> tuple[str, int]:
        """Create the hidden temp file beside `path`, making parent directories as needed."""
        directory = os.path.dirname(path)
        temp = f"{_temp_stem(path)}{self._token}-{next(self._counter)}"
        if directory not in self._dirs:
            self._make_dirs(directory)
        try:
            return temp, os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:  # removed behind our back since we cached it
            self._dirs.discard(directory)
            self._make_dirs(directory)
            return temp, os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except PermissionError as exc:
            raise SkyUserError(f"No permission to write in file://{directory}", "grant write permission") from exc

    def _make_dirs(self, directory: str) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise SkyUserError(
                f"Cannot create file://{directory}: a part of that path is a file",
                "remove that file or choose another destination",
            ) from exc
        except PermissionError as exc:
            raise SkyUserError(f"No permission to create file://{directory}", "grant write permission") from exc
        self._dirs.add(directory)

    def _seal(self, fd: int, metadata: Mapping[str, str]) -> os.stat_result:
        """Attach metadata and (optionally) flush; returns the final stat.

        One fstat serves both: neither the xattr, the fsync nor the rename changes mtime or size.
        """
        st = os.fstat(fd)
        self._write_meta(fd, metadata, st)
        if self.fsync:
            os.fsync(fd)
        return st

    @staticmethod
    def _publish(temp: str, path: str) -> None:
        try:
            os.replace(temp, path)
        except IsADirectoryError as exc:
            raise SkyUserError(
                f"Cannot write file://{path}: a directory has that name",
                "remove the directory or choose another destination key",
            ) from exc

    def delete(self, bucket: str, key: str) -> None:
        path = self._checked_path(bucket, key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        """Remove temp files a killed run left where keys under `prefix` would be written.

        Temp names do not carry their key, so every temp file in the prefix's directory
        counts, plus those in sub-directories matching the prefix. Two runs writing into one
        directory at the same time are therefore not supported.
        """
        self._check_bucket_name(bucket)
        head, _, name = prefix.rpartition("/")
        root = "/" + head
        count = _remove_temps(root)
        if not head and not name:
            return count  # the filesystem root: never walk the whole machine
        try:
            with os.scandir(root) as it:
                subdirs = [e.path for e in it if e.name.startswith(name) and e.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            return count
        for subdir in subdirs:
            for dirpath, _dirs, _files in os.walk(subdir):
                count += _remove_temps(dirpath)
        return count


def _temp_stem(path: str) -> str:
    """The start of every temp file name a write of `path` uses (so a rerun can find it)."""
    name_hash = hashlib.sha256(os.path.basename(path).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(os.path.dirname(path), f"{TEMP_PREFIX}{name_hash}-")


def _remove_temps(directory: str) -> int:
    count = 0
    try:
        with os.scandir(directory) as it:
            temps = [e.path for e in it if e.name.startswith(TEMP_PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for path in temps:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            count += 1
    return count


class LocalUpload(MultipartUpload):
    """A hidden temp file beside the target; parts are written at their offsets with pwrite."""

    def __init__(
        self,
        store: LocalStore,
        key: str,
        path: str,
        temp: str,
        fd: int,
        metadata: dict[str, str],
        *,
        resumed: bool = False,
    ) -> None:
        self._store, self._key, self._path, self._temp = store, key, path, temp
        self.upload_id = os.path.basename(temp)[len(TEMP_PREFIX) :]
        self._metadata = metadata
        self._lock = threading.Lock()
        self._parts: dict[int, tuple[int, int]] = {}
        self._done = False
        self._fd: int | None = fd
        self._resumed = resumed  # the temp file holds an interrupted write's bytes

    def reuse_part(self, part_number: int, offset: int, length: int, md5: bytes | None, crc32c: int) -> bool:
        """Keep the bytes already at [offset, offset+length) when they have the chunk's CRC32C."""
        fd = self._fd
        if not self._resumed or fd is None or not length:
            return False
        stored = os.pread(fd, length, offset)
        if len(stored) != length or google_crc32c.value(stored) != crc32c:
            return False
        with self._lock:
            self._parts[part_number] = (offset, length)
        return True

    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        if hashlib.md5(data).digest() != md5:
            raise IntegrityError(
                f"Part {part_number} of {self._key!r} does not match the MD5 computed when it was read"
            )
        self._write_part(part_number, offset, data)

    def upload_part_crc32c(self, part_number: int, offset: int, data: bytes, crc32c: int) -> None:
        """`upload_part`, verified against the chunk's CRC32C instead of an MD5."""
        if google_crc32c.value(data) != crc32c:
            raise IntegrityError(
                f"Part {part_number} of {self._key!r} does not match the CRC32C computed when it was read"
            )
        self._write_part(part_number, offset, data)

    def _write_part(self, part_number: int, offset: int, data: bytes) -> None:
        fd = self._fd
        if fd is None:
            raise StoreError(f"Upload of {self._key!r} was already finished or aborted")
        try:
            _pwrite_all(fd, data, offset)
        except OSError as exc:
            if not _is_full(exc):
                raise
            self.abort()  # the partial temp file would only hold the space a retry needs
            raise no_space_error(self._path, len(data)) from exc
        with self._lock:
            self._parts[part_number] = (offset, len(data))

    def complete(self, md5: bytes | None = None) -> ObjectInfo:
        with self._lock:
            fd = self._fd
            if fd is None or self._done:
                raise StoreError(f"Upload of {self._key!r} was already finished or aborted")
            end = 0
            for number in sorted(self._parts):
                offset, length = self._parts[number]
                if offset != end:
                    raise StoreError(f"Upload of {self._key!r} has a gap before part {number}")
                end += length
            os.ftruncate(fd, end)
            st = self._store._seal(fd, self._metadata)
            os.close(fd)
            self._fd = None
            self._store._publish(self._temp, self._path)
            self._done = True
        return ObjectInfo(self._key, st.st_size, _etag(st), st.st_mtime, {}, dict(self._metadata))

    def abort(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if not self._done:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._temp)


def special_kind(path: str) -> str:
    """What a path that is neither a regular file nor a directory is, in words for a message."""
    try:
        st = os.lstat(path)
    except OSError:
        return "gone"
    if file_mode.S_ISLNK(st.st_mode):
        try:
            os.stat(path)
        except FileNotFoundError:
            return f"a dangling symlink (to {os.readlink(path)!r})"
        except OSError as exc:
            loop = exc.errno == errno.ELOOP
            return "a symlink loop" if loop else f"a symlink that cannot be followed ({exc.strerror})"
        return f"a symlink to {special_kind(os.path.realpath(path))}"
    kinds = {file_mode.S_ISFIFO: "a FIFO (named pipe)", file_mode.S_ISCHR: "a character device",
             file_mode.S_ISBLK: "a block device", file_mode.S_ISSOCK: "a socket"}  # fmt: skip
    return next((words for test, words in kinds.items() if test(st.st_mode)), "not a regular file")


def _not_a_file(path: str, kind: str) -> SkyUserError:
    return SkyUserError(
        f"file://{path} is {kind}, not a regular file: it has no bytes to copy",
        "copy regular files (for a pipe or device, save its output to a file first)",
    )


def _is_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def no_space_error(path: str, needed: int) -> SkyUserError:
    """The disk under `path` is full: name the destination, what one write needed and what is free."""
    directory = os.path.dirname(path)
    try:
        vfs = os.statvfs(directory)
        free = f"{vfs.f_bavail * vfs.f_frsize:,} bytes free"
    except OSError:
        free = "free space unknown"
    return SkyUserError(
        f"No space left on the device for file://{path} ({free} in file://{directory}, a write of "
        f"{needed:,} bytes did not fit); the partial file was removed",
        "free space on that filesystem (or raise the quota) and rerun, or choose another destination",
    )


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], offset + written)
