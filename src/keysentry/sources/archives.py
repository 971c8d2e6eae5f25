"""Archives: zip (wheels, jars, eggs, apks), tar, and gzip/bzip2/xz streams, scanned member by member.

Everything happens in memory and nothing is extracted, so there is no path to
write to and no link to follow: a hostile archive cannot reach the disk.  What
remains hostile is size.  A few kilobytes can inflate to terabytes (a gzip
bomb), many zip entries can point at the same compressed bytes (an
overlapping-entry bomb), and archives can nest (42.zip).  So every byte comes
out of a decompressor in bounded chunks, is counted against its member, its
archive and the outermost archive, and reading stops with a stated reason as
soon as one of the :class:`ArchiveLimits` is crossed.  A corrupt archive is a
:class:`Skipped`, never an exception; what was read before the damage stands.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from keysentry.content import Blob, Provenance, Skipped

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
CHUNK = MiB  # decompressed bytes per read: big enough that Python overhead does not matter
INPUT_CHUNK = 64 * KiB  # compressed bytes handed to a decompressor at once
# Tiny, highly compressible files (a config padded with spaces) are normal and harmless, so a
# ratio is only judged once this much has come out.
RATIO_GRACE_BYTES = MiB

# Anything a damaged archive can make the standard library raise while we read it.
CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    OSError,  # includes gzip.BadGzipFile and bz2's "Invalid data stream"
    EOFError,  # a stream that ends before its end-of-stream marker
    zlib.error,
    lzma.LZMAError,
    struct.error,
    ValueError,
    NotImplementedError,
)

_BZIP2_MAGIC = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")  # first block, or empty stream
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".bz2", ".bz", ".xz")
_TAR_IN = {"gzip": "tar.gz", "bzip2": "tar.bz2", "xz": "tar.xz"}
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


@dataclass(frozen=True)
class ArchiveLimits:
    """How far :func:`expand` goes before it stops reading (part of) an archive, and says so."""

    max_depth: int = 4  # archive levels opened, the outermost being level 1
    max_members: int = 100_000  # entries per archive (directories included)
    max_member_bytes: int = 64 * MiB  # one decompressed member
    max_total_bytes: int = 1 * GiB  # every byte inflated from one outermost archive, at any depth
    max_ratio: float = 200.0  # decompressed / compressed, per member and per archive


DEFAULT_LIMITS = ArchiveLimits()


def archive_kind(data: bytes) -> str | None:
    """'zip', 'tar', 'gzip', 'bzip2', 'xz' by magic bytes (tar: 'ustar' at offset 257), else None.

    bzip2's "BZh" is plain text, so its block magic is checked too: a credential file that happens to
    start with "BZh9" must still be scanned as text.
    """
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh" and len(data) >= 10 and 0x31 <= data[3] <= 0x39 and data[4:10] in _BZIP2_MAGIC:
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[257:262] == b"ustar":
        return "tar"
    return None


def expand(blob: Blob, limits: ArchiveLimits = DEFAULT_LIMITS) -> Iterator[Blob | Skipped]:
    """Every member of the archive in ``blob`` (recursively), or a Skipped saying why not.

    Member paths chain with ``!`` (``pkg.whl!inner.tar.gz!dir/file.env``); every other provenance
    field is the outer blob's.  Members that are archives are expanded, not yielded; every other
    member is yielded as a Blob, binary or not, for the caller to judge.  Data that is not an
    archive yields nothing.
    """
    walk = _Walk(limits)
    try:
        yield from _archive(blob.data, blob.provenance, walk, 1)
    except _TotalExceeded as stop:
        yield Skipped(stop.where, stop.reason)


# --- limits ----------------------------------------------------------------------------------
class _TotalExceeded(Exception):
    """Unwinds every level: the outermost archive's byte budget is spent, nothing more is read."""

    def __init__(self, where: Provenance, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


class _StopArchive(Exception):
    """Unwinds to the innermost open archive, which is reported as skipped; its siblings go on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Walk:
    """State shared by every level of one :func:`expand` call."""

    limits: ArchiveLimits
    used: int = 0

    def spend(self, size: int, where: Provenance) -> None:
        self.used += size
        if self.used > self.limits.max_total_bytes:
            total = _size(self.limits.max_total_bytes)
            raise _TotalExceeded(where, f"archive total past {total}; the rest was not read")


@dataclass
class _Tally:
    """Bytes inflated out of one archive: spent from the total, and held to the overall ratio."""

    walk: _Walk
    compressed: int
    produced: int = 0

    def add(self, size: int, where: Provenance) -> None:
        self.walk.spend(size, where)
        self.produced += size
        limit = self.walk.limits.max_ratio
        if self.produced > _ratio_cap(self.compressed, limit):
            raise _StopArchive(_ratio_reason(self.produced, self.compressed, limit))


def _ratio_cap(compressed: int, limit: float) -> float:
    """The most ``compressed`` bytes may inflate to (anything may inflate to the grace amount)."""
    return max(RATIO_GRACE_BYTES, limit * max(compressed, 1))


def _ratio_reason(produced: int, compressed: int, limit: float) -> str:
    return f"compression ratio above {limit:g} ({produced:,} bytes out of {compressed:,})"


def _member_reason(limits: ArchiveLimits, declared: int | None = None) -> str:
    reason = f"decompresses past the {_size(limits.max_member_bytes)} member limit"
    return reason if declared is None else f"{reason} ({declared:,} bytes declared)"


def _size(count: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if count >= scale and count % scale == 0:
            return f"{count // scale} {unit}"
    return f"{count:,} bytes"


# --- dispatch --------------------------------------------------------------------------------
def _archive(data: bytes, where: Provenance, walk: _Walk, depth: int) -> Iterator[Blob | Skipped]:
    kind = archive_kind(data)
    if kind is None:
        return
    if depth > walk.limits.max_depth:
        yield Skipped(where, f"nested deeper than {walk.limits.max_depth} archives")
        return
    try:
        if kind == "zip":
            yield from _zip(data, where, walk, depth)
        elif kind == "tar":
            yield from _tar(_Stream(io.BytesIO(data), where, walk, None), where, walk, depth, "tar")
        else:
            yield from _compressed(data, kind, where, walk, depth)
    except _StopArchive as stop:
        yield Skipped(where, stop.reason)


def _member(data: bytes, where: Provenance, walk: _Walk, depth: int) -> Iterator[Blob | Skipped]:
    if archive_kind(data) is None:
        yield Blob(data, where)
    else:
        yield from _archive(data, where, walk, depth + 1)


def _child(where: Provenance, name: str) -> Provenance:
    return dataclasses.replace(where, path=f"{where.path or ''}!{name}")


def _read_member(
    chunks: Iterator[bytes],
    where: Provenance,
    limits: ArchiveLimits,
    compressed: int | None = None,
    tally: _Tally | None = None,
) -> bytes | Skipped:
    """Collect one member, stopping one byte past the member limit or (given its compressed size)
    its ratio.  The chunk that crosses the line is cut there before it is counted, so a member
    stopped by its own limits does not also trip its archive's overall ratio, and its siblings
    are still read."""
    stop = limits.max_member_bytes
    if compressed is not None:
        stop = int(min(stop, _ratio_cap(compressed, limits.max_ratio)))
    parts: list[bytes] = []
    size = 0
    for whole in chunks:
        chunk = whole if len(whole) <= stop + 1 - size else whole[: stop + 1 - size]
        if tally is not None:
            tally.add(len(chunk), where)
        size += len(chunk)
        if size > stop:
            if compressed is None or size > limits.max_member_bytes:
                return Skipped(where, _member_reason(limits))
            return Skipped(where, _ratio_reason(size, compressed, limits.max_ratio))
        parts.append(chunk)
    return b"".join(parts)


# --- zip -------------------------------------------------------------------------------------
def _zip(data: bytes, where: Provenance, walk: _Walk, depth: int) -> Iterator[Blob | Skipped]:
    """zipfile reads the central directory; the members are decompressed here, see :func:`_zip_chunks`."""
    limits = walk.limits
    entries = _zip_entry_count(data)
    if entries > limits.max_members:
        yield Skipped(where, f"more than {limits.max_members} members ({entries:,} in the central directory)")
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except CORRUPT as exc:
        yield Skipped(where, f"corrupt zip: {exc}", damaged=True)
        return
    if len(infos) > limits.max_members:
        yield Skipped(where, f"more than {limits.max_members} members ({len(infos):,})")
        return
    tally = _Tally(walk, len(data))
    for info in infos:
        if info.filename.endswith("/"):  # a directory; ZipInfo.is_dir() fails on an empty name
            continue
        member = _child(where, info.filename or "<unnamed>")
        refusal = _zip_refusal(info, limits)
        if refusal is not None:
            yield Skipped(member, refusal)
            continue
        try:
            got = _read_member(_zip_chunks(data, info), member, limits, info.compress_size, tally)
        except CORRUPT as exc:
            yield Skipped(member, f"corrupt zip: {exc}", damaged=True)
            continue
        if isinstance(got, Skipped):
            yield got
        else:
            yield from _member(got, member, walk, depth)


def _zip_entry_count(data: bytes) -> int:
    """Central-directory signatures in the stretch zipfile would parse, counted before it parses it.

    zipfile builds an object per entry and trusts neither the declared count nor anything but the
    directory's size, so this upper bound is what keeps a million-entry directory out of memory.
    """
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0:
        return 0
    start = 0
    zip64 = end >= 20 and data[end - 20 : end - 16] == b"PK\x06\x07"
    if not zip64 and end + 22 <= len(data):
        (size,) = struct.unpack_from("<L", data, end + 12)
        start = max(0, end - size)
    return data.count(b"PK\x01\x02", start, end)


def _zip_refusal(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    if info.flag_bits & 0x1:
        return "encrypted"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link (not followed)"
    if info.compress_type not in _ZIP_METHODS:
        return f"unsupported zip compression method {info.compress_type}"
    if info.file_size > limits.max_member_bytes:
        return _member_reason(limits, info.file_size)
    return None


def _zip_chunks(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """One member, decompressed in bounded chunks and checked against its size and CRC.

    Not ``ZipFile.open``: its bzip2 and LZMA readers inflate each input block in one unbounded call.
    """
    offset = info.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(data):
        raise zipfile.BadZipFile(f"local header of {info.filename!r} is outside the archive")
    header = _LOCAL_HEADER.unpack_from(data, offset)
    if header[0] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
    begin = offset + _LOCAL_HEADER.size + header[9] + header[10]
    end = begin + info.compress_size
    if end > len(data):
        raise zipfile.BadZipFile(f"{info.filename!r} runs past the end of the archive")
    crc = size = 0
    for chunk in _inflate(memoryview(data)[begin:end], info.compress_type):
        size += len(chunk)
        if size > info.file_size:
            raise zipfile.BadZipFile(f"{info.filename!r} inflates past its declared {info.file_size:,} bytes")
        crc = zlib.crc32(chunk, crc)
        yield chunk
    if size != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename!r} is shorter than its declared {info.file_size:,} bytes")
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"bad CRC-32 for {info.filename!r}")


def _inflate(raw: memoryview, method: int) -> Iterator[bytes]:
    if method == zipfile.ZIP_STORED:
        for start in range(0, len(raw), CHUNK):
            yield bytes(raw[start : start + CHUNK])
    elif method == zipfile.ZIP_DEFLATED:
        yield from _zlib_chunks(raw, -zlib.MAX_WBITS)
    elif method == zipfile.ZIP_BZIP2:
        yield from _buffered_chunks(bz2.BZ2Decompressor(), raw)
    else:
        yield from _zip_lzma_chunks(raw)


def _zip_lzma_chunks(raw: memoryview) -> Iterator[bytes]:
    """Zip's LZMA: a 4-byte version and size, then 5 property bytes, then a raw LZMA1 stream."""
    if len(raw) < 9 or struct.unpack_from("<H", raw, 2)[0] != 5:
        raise zipfile.BadZipFile("bad LZMA properties")
    props = raw[4]
    if props >= 9 * 5 * 5:
        raise zipfile.BadZipFile("bad LZMA properties")
    lzma1 = {
        "id": lzma.FILTER_LZMA1,
        "dict_size": int.from_bytes(raw[5:9], "little"),
        "lc": props % 9,
        "lp": props // 9 % 5,
        "pb": props // 45,
    }
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])
    yield from _buffered_chunks(decompressor, raw[9:])


def _zlib_chunks(raw: memoryview, wbits: int) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits)
    for start in range(0, len(raw), INPUT_CHUNK):
        data: bytes | memoryview = raw[start : start + INPUT_CHUNK]
        while not decompressor.eof:
            out = decompressor.decompress(data, CHUNK)
            data = decompressor.unconsumed_tail
            if out:
                yield out
            elif not data:
                break
        if decompressor.eof:
            return


def _buffered_chunks(
    decompressor: bz2.BZ2Decompressor | lzma.LZMADecompressor, raw: memoryview
) -> Iterator[bytes]:
    for start in range(0, len(raw), INPUT_CHUNK):
        data = raw[start : start + INPUT_CHUNK]
        while not decompressor.eof:
            out = decompressor.decompress(data, CHUNK)
            data = raw[:0]
            if out:
                yield out
            if decompressor.needs_input:
                break
        if decompressor.eof:
            return


# --- gzip, bzip2, xz -------------------------------------------------------------------------
def _compressed(
    data: bytes, kind: str, where: Provenance, walk: _Walk, depth: int
) -> Iterator[Blob | Skipped]:
    """A tar inside is expanded in place (``pkg.tar.gz!dir/file``); anything else is one member."""
    label = kind
    try:
        with _open_stream(kind, data) as source:
            stream = _Stream(source, where, walk, len(data))
            if stream.peek(512)[257:262] == b"ustar":
                label = _TAR_IN[kind]
                yield from _tar(stream, where, walk, depth, label)
                return
            member = _child(where, _decompressed_name(where.path))
            got = _read_member(iter(partial(stream.read, CHUNK), b""), member, walk.limits, None)
    except CORRUPT as exc:
        yield Skipped(where, f"corrupt {label}: {exc}", damaged=True)
        return
    if isinstance(got, Skipped):
        yield got
    else:
        yield from _member(got, member, walk, depth)


def _open_stream(kind: str, data: bytes) -> io.BufferedIOBase:
    """The standard library's readers: ``read(n)`` inflates at most n bytes, multi-stream files work."""
    raw = io.BytesIO(data)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw)
    return lzma.LZMAFile(raw)


def _decompressed_name(path: str | None) -> str:
    name = (path or "").rsplit("!", 1)[-1].rsplit("/", 1)[-1]
    for suffix in _COMPRESSED_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return "<decompressed>"


class _Stream:
    """An archive's bytes as tarfile reads them: forward only, counted when inflated, no huge reads.

    tarfile asks for a GNU long name or a pax header in one ``read(size)`` of the size the header
    claims; such a request is refused rather than inflated.  Seeking ahead reads and discards, so
    bytes skipped over still count against the limits.  The last read is kept: it is how
    :func:`_tar` tells a proper end of archive from a truncated or garbled one.
    """

    def __init__(
        self, source: io.BufferedIOBase, where: Provenance, walk: _Walk, compressed: int | None
    ) -> None:
        self._source = source
        self._where = where
        self._walk = walk
        self._tally = None if compressed is None else _Tally(walk, compressed)
        self._pending = b""
        self._offset = 0
        self.last_read = b""

    def _pull(self, size: int) -> bytes:
        data = self._source.read(size)
        if data and self._tally is not None:
            self._tally.add(len(data), self._where)
        return data

    def peek(self, size: int) -> bytes:
        while len(self._pending) < size and (data := self._pull(size - len(self._pending))):
            self._pending += data
        return self._pending[:size]

    def read(self, size: int = -1, /) -> bytes:
        limit = self._walk.limits.max_member_bytes
        if size < 0 or size > max(limit, CHUNK):
            raise _StopArchive(f"a tar header asks for more than the {_size(limit)} member limit")
        parts = [self._pending[:size]]
        self._pending = self._pending[size:]
        got = len(parts[0])
        while got < size and (data := self._pull(min(CHUNK, size - got))):
            parts.append(data)
            got += len(data)
        self._offset += got
        self.last_read = b"".join(parts)
        return self.last_read

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence != io.SEEK_SET or offset < self._offset:
            raise io.UnsupportedOperation("an archive stream is read forward only")
        while self._offset < offset and self.read(min(CHUNK, offset - self._offset)):
            pass
        return self._offset

    def write(self, data: bytes, /) -> int:
        raise io.UnsupportedOperation("read only")

    def close(self) -> None:
        """The caller owns the source."""


# --- tar -------------------------------------------------------------------------------------
def _tar(stream: _Stream, where: Provenance, walk: _Walk, depth: int, label: str) -> Iterator[Blob | Skipped]:
    limits = walk.limits
    try:
        with tarfile.TarFile(fileobj=stream, mode="r") as archive:
            count = 0
            while (info := archive.next()) is not None:
                # tarfile keeps every TarInfo it has read; we never look back, so drop them and keep a
                # long archive's memory flat (``members`` is not in typeshed, hence vars()).
                vars(archive)["members"].clear()
                count += 1
                if count > limits.max_members:
                    yield Skipped(where, f"more than {limits.max_members} members")
                    return
                if info.isdir():
                    continue
                member = _child(where, info.name)
                refusal = _tar_refusal(info, limits)
                if refusal is not None:
                    yield Skipped(member, refusal)
                    continue
                handle = archive.extractfile(info)
                if handle is None:
                    continue
                got = _read_member(iter(partial(handle.read, CHUNK), b""), member, limits, None)
                if isinstance(got, Skipped):
                    yield got
                else:
                    yield from _member(got, member, walk, depth)
    except CORRUPT as exc:
        yield Skipped(where, f"corrupt {label}: {exc}", damaged=True)
        return
    # tarfile ends quietly at a missing or unreadable header; only a zero block is a proper end.
    end = stream.last_read
    if len(end) != tarfile.BLOCKSIZE:
        yield Skipped(where, f"corrupt {label}: truncated (no end-of-archive block)", damaged=True)
    elif end.count(0) != tarfile.BLOCKSIZE:
        yield Skipped(
            where, f"corrupt {label}: unreadable header at byte {stream.tell() - len(end):,}", damaged=True
        )


def _tar_refusal(info: tarfile.TarInfo, limits: ArchiveLimits) -> str | None:
    if info.issym():
        return "symbolic link (not followed)"
    if info.islnk():
        return "hard link (not followed)"
    if info.ischr() or info.isblk():
        return "device file (not read)"
    if info.isfifo():
        return "FIFO (not read)"
    if info.issparse():
        return "sparse file (not read)"
    if not info.isreg():
        return f"unsupported tar member type {info.type!r}"
    if info.size > limits.max_member_bytes:
        return _member_reason(limits, info.size)
    return None
