"""Archives: credentials are found inside them, and hostile ones are stopped early and said so.

Every archive here is built in the test with zipfile/tarfile/gzip/bz2/lzma or by hand.  The bombs are
built without ever holding their inflated bytes: a MiB of zeros goes through the compressor with a
full flush, which makes every MiB's output identical, and that output is then repeated.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import random
import struct
import tarfile
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keysentry.content import Blob, Provenance, Skipped
from keysentry.sources.archives import ArchiveLimits, archive_kind, expand

KEY = "AKIAQMW4NRYRP4KPFPY4"
SECRET = "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"
PAIR = f"AWS_ACCESS_KEY_ID={KEY}\nAWS_SECRET_ACCESS_KEY={SECRET}\n".encode()
MiB = 1 << 20
UNLIMITED_RATIO = float("inf")


# --- building archives ------------------------------------------------------------------------
def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            # A fixed timestamp keeps the bytes (and so the fuzz tests below) the same on every run.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, method)
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    """A tar, compressed with the mode's codec; gzip's header carries no clock time."""
    plain = _plain_tar(members)
    if mode == "w:gz":
        return gzip.compress(plain, mtime=0)
    return {"w": lambda b: b, "w:bz2": bz2.compress, "w:xz": lzma.compress}[mode](plain)


def _plain_tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@functools.cache
def deflate_zeros(mib: int) -> bytes:
    """``mib`` MiB of zeros as a raw deflate stream (about 1 KiB per MiB)."""
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == block
    return block * mib + compressor.flush()


@functools.cache
def crc_of_zeros(mib: int) -> int:
    zeros, crc = bytes(MiB), 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return crc


def gzip_zeros(mib: int) -> bytes:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<LL", crc_of_zeros(mib), (mib * MiB) & 0xFFFFFFFF)
    return header + deflate_zeros(mib) + trailer


def overlapping_zip(entries: int, kernel_mib: int) -> bytes:
    """An overlapping-entry bomb in the manner of David Fifield's zbsm, without the quoting: one local
    file of deflated zeros and ``entries`` central-directory records that all point at it."""
    name = b"zeros.txt"
    kernel = deflate_zeros(kernel_mib)
    crc, size = crc_of_zeros(kernel_mib), kernel_mib * MiB
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(kernel), size, len(name), 0)
    record = struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(kernel), size, len(name), 0, 0, 0, 0, 0, 0
    )
    body = local + name + kernel
    directory = (record + name) * entries
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), len(body), 0)
    return body + directory + end


def nested_bomb(copies: int, layers: int, innermost_mib: int) -> bytes:
    """42.zip in miniature: a zip holding a file of zeros, inside ``layers - 1`` zips that each hold
    ``copies`` copies of the zip below."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("0.txt", "w") as out:
        for _ in range(innermost_mib):
            out.write(bytes(MiB))
    data = buf.getvalue()
    for _ in range(layers - 1):
        data = zip_bytes({f"{i}.zip": data for i in range(copies)})
    return data


# --- reading results --------------------------------------------------------------------------
def expand_path(data: bytes, path: str, limits: ArchiveLimits | None = None) -> list[Blob | Skipped]:
    blob = Blob(data, Provenance(kind="file", path=path))
    return list(expand(blob) if limits is None else expand(blob, limits))


def by_path(items: Iterable[Blob | Skipped]) -> dict[str | None, Blob | Skipped]:
    return {item.provenance.path: item for item in items}


def reasons(items: Iterable[Blob | Skipped]) -> dict[str | None, str]:
    return {item.provenance.path: item.reason for item in items if isinstance(item, Skipped)}


def summary(items: Iterable[Blob | Skipped]) -> list[tuple[str, str | None, str | int]]:
    """What was yielded, without keeping large members alive."""
    return [
        (type(i).__name__, i.provenance.path, i.reason if isinstance(i, Skipped) else len(i.data))
        for i in items
    ]


def peak_memory(
    data: bytes, path: str, limits: ArchiveLimits | None = None
) -> tuple[list[Blob | Skipped], int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        items = expand_path(data, path, limits)
        return items, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- formats and paths ------------------------------------------------------------------------
FORMATS = {
    "bundle.zip": lambda m: zip_bytes(m),
    "stored.zip": lambda m: zip_bytes(m, zipfile.ZIP_STORED),
    "bzip2.zip": lambda m: zip_bytes(m, zipfile.ZIP_BZIP2),
    "lzma.zip": lambda m: zip_bytes(m, zipfile.ZIP_LZMA),
    "bundle.tar": lambda m: tar_bytes(m),
    "bundle.tar.gz": lambda m: tar_bytes(m, "w:gz"),
    "bundle.tgz": lambda m: tar_bytes(m, "w:gz"),
    "bundle.tar.bz2": lambda m: tar_bytes(m, "w:bz2"),
    "bundle.tar.xz": lambda m: tar_bytes(m, "w:xz"),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_a_credential_file_inside_each_format_is_yielded_with_its_nested_path(name: str) -> None:
    data = FORMATS[name]({"README.md": b"# docs\n", "config/prod.env": PAIR})
    items = by_path(expand_path(data, f"dist/{name}"))
    assert set(items) == {f"dist/{name}!README.md", f"dist/{name}!config/prod.env"}
    found = items[f"dist/{name}!config/prod.env"]
    assert isinstance(found, Blob) and found.data == PAIR


def test_wheels_sdists_and_jars_are_expanded() -> None:
    wheel = zip_bytes(
        {
            "pkg/__init__.py": b"",
            "pkg/settings.env": PAIR,
            "pkg-1.0.dist-info/METADATA": b"Name: pkg\n",
            "pkg-1.0.dist-info/": b"",  # a directory entry: ignored, not yielded
        }
    )
    sdist = tar_bytes({"pkg-1.0/setup.py": b"setup()\n", "pkg-1.0/pkg/.env": PAIR}, "w:gz")
    jar = zip_bytes({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "application.properties": PAIR})
    wheel_items = by_path(expand_path(wheel, "pkg-1.0-py3-none-any.whl"))
    assert set(wheel_items) == {
        "pkg-1.0-py3-none-any.whl!pkg/__init__.py",
        "pkg-1.0-py3-none-any.whl!pkg/settings.env",
        "pkg-1.0-py3-none-any.whl!pkg-1.0.dist-info/METADATA",
    }
    sdist_items = by_path(expand_path(sdist, "pkg-1.0.tar.gz"))
    jar_items = by_path(expand_path(jar, "app.jar"))
    for found in (
        wheel_items["pkg-1.0-py3-none-any.whl!pkg/settings.env"],
        sdist_items["pkg-1.0.tar.gz!pkg-1.0/pkg/.env"],
        jar_items["app.jar!application.properties"],
    ):
        assert isinstance(found, Blob) and found.data == PAIR


def test_archives_in_archives_are_expanded_with_the_path_chain() -> None:
    inner = zip_bytes({"deep/cred.env": PAIR})
    middle = tar_bytes({"dir/file.env": PAIR, "inner.zip": inner}, "w:gz")
    outer = zip_bytes({"inner.tar.gz": middle, "top.txt": b"hello\n"})
    items = by_path(expand_path(outer, "pkg.whl"))
    assert set(items) == {
        "pkg.whl!top.txt",
        "pkg.whl!inner.tar.gz!dir/file.env",
        "pkg.whl!inner.tar.gz!inner.zip!deep/cred.env",
    }
    assert all(isinstance(item, Blob) for item in items.values())  # the archives themselves are not yielded


def test_nesting_past_the_depth_limit_is_skipped_with_the_reason() -> None:
    inner = zip_bytes({"deep/cred.env": PAIR})
    middle = tar_bytes({"dir/file.env": PAIR, "inner.zip": inner}, "w:gz")
    outer = zip_bytes({"inner.tar.gz": middle})
    items = expand_path(outer, "pkg.whl", ArchiveLimits(max_depth=2))
    assert summary(items) == [
        ("Blob", "pkg.whl!inner.tar.gz!dir/file.env", len(PAIR)),
        ("Skipped", "pkg.whl!inner.tar.gz!inner.zip", "nested deeper than 2 archives"),
    ]


def test_provenance_is_the_outer_blobs_with_the_member_path() -> None:
    outer = Provenance(
        kind="git",
        path="dist/app.jar",
        repository="https://example.com/acme/app.git",
        commit="0123456789abcdef0123456789abcdef01234567",
        author="Dana Developer <dana@example.com>",
        committed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        url="https://example.com/acme/app/blob/main/dist/app.jar",
    )
    (item,) = expand(Blob(zip_bytes({"application.properties": PAIR}), outer))
    assert item.provenance == Provenance(
        kind="git",
        path="dist/app.jar!application.properties",
        repository=outer.repository,
        commit=outer.commit,
        author=outer.author,
        committed_at=outer.committed_at,
        url=outer.url,
    )


@pytest.mark.parametrize(
    ("path", "compress", "member"),
    [
        ("creds.env.gz", gzip.compress, "creds.env.gz!creds.env"),
        ("creds.env.bz2", bz2.compress, "creds.env.bz2!creds.env"),
        ("creds.env.xz", lzma.compress, "creds.env.xz!creds.env"),
        ("-", gzip.compress, "-!<decompressed>"),
    ],
)
def test_single_compressed_files_are_one_member_named_without_the_suffix(
    path: str, compress: Callable[[bytes], bytes], member: str
) -> None:
    (item,) = expand_path(compress(PAIR), path)
    assert isinstance(item, Blob) and item.provenance.path == member and item.data == PAIR


def test_a_compressed_archive_inside_a_zip_is_expanded() -> None:
    outer = zip_bytes(
        {"logs/creds.env.gz": gzip.compress(PAIR), "bundle.zip.gz": gzip.compress(zip_bytes({"a.env": PAIR}))}
    )
    assert summary(expand_path(outer, "a.zip")) == [
        ("Blob", "a.zip!logs/creds.env.gz!creds.env", len(PAIR)),
        ("Blob", "a.zip!bundle.zip.gz!bundle.zip!a.env", len(PAIR)),
    ]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (zip_bytes({"a": b"b"}), "zip"),
        (zip_bytes({}), "zip"),
        (tar_bytes({"a": b"b"}), "tar"),
        (gzip.compress(b"x", mtime=0), "gzip"),
        (bz2.compress(b"x"), "bzip2"),
        (bz2.compress(b""), "bzip2"),
        (lzma.compress(b"x"), "xz"),
        (b"BZh9 is how this note starts, but it is text\n", None),
        (PAIR, None),
        (b"", None),
    ],
    # (named by hand: the processes running the tests must all collect the same names)
    ids=["zip", "empty-zip", "tar", "gzip", "bzip2", "empty-bzip2", "xz", "bzh9-text", "pair", "empty"],
)
def test_archive_kind_goes_by_magic_bytes(data: bytes, kind: str | None) -> None:
    assert archive_kind(data) == kind


def test_data_that_is_not_an_archive_yields_nothing() -> None:
    assert expand_path(PAIR, "plain.env") == []


@pytest.mark.parametrize("name", ["bundle.zip", "stored.zip", "bundle.tar", "bundle.tar.gz"])
def test_an_oversized_member_is_skipped_and_the_next_one_is_still_read(name: str) -> None:
    data = FORMATS[name]({"big.bin": random.Random(3).randbytes(5000), "small.env": PAIR})
    items = expand_path(data, name, ArchiveLimits(max_member_bytes=1000))
    assert summary(items) == [
        (
            "Skipped",
            f"{name}!big.bin",
            "decompresses past the 1,000 bytes member limit (5,000 bytes declared)",
        ),
        ("Blob", f"{name}!small.env", len(PAIR)),
    ]


# --- links and other members that are never read -----------------------------------------------
def test_tar_links_devices_and_fifos_are_skipped_and_nothing_outside_is_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.env"
    outside.write_bytes(PAIR)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        ok = tarfile.TarInfo("ok.txt")
        ok.size = 6
        archive.addfile(ok, io.BytesIO(b"hello\n"))
        for name, kind, target in [
            ("sym.env", tarfile.SYMTYPE, str(outside)),
            ("rel.env", tarfile.SYMTYPE, "../outside.env"),
            ("hard.env", tarfile.LNKTYPE, str(outside)),
            ("fifo", tarfile.FIFOTYPE, ""),
            ("tty", tarfile.CHRTYPE, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    items = expand_path(buf.getvalue(), "t.tgz")
    assert reasons(items) == {
        "t.tgz!sym.env": "symbolic link (not followed)",
        "t.tgz!rel.env": "symbolic link (not followed)",
        "t.tgz!hard.env": "hard link (not followed)",
        "t.tgz!fifo": "FIFO (not read)",
        "t.tgz!tty": "device file (not read)",
    }
    assert [i.data for i in items if isinstance(i, Blob)] == [b"hello\n"]


def test_zip_symlinks_and_encrypted_entries_are_skipped() -> None:
    link = zipfile.ZipInfo("link.env")
    link.external_attr = (0o120777 << 16) | 0x20
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("secret.env", PAIR)
        archive.writestr(link, "/etc/passwd")
        archive.writestr("plain.env", PAIR)
    data = bytearray(buf.getvalue())
    # Set the "encrypted" flag on the first entry, in its local header and its central record: what
    # a reader sees of a password-protected entry (zipfile cannot write one).
    data[6] |= 0x1
    data[data.index(b"PK\x01\x02") + 8] |= 0x1
    items = expand_path(bytes(data), "s.zip")
    assert summary(items) == [
        ("Skipped", "s.zip!secret.env", "encrypted"),
        ("Skipped", "s.zip!link.env", "symbolic link (not followed)"),
        ("Blob", "s.zip!plain.env", len(PAIR)),
    ]


# --- member counts ---------------------------------------------------------------------------
def test_a_zip_with_too_many_entries_is_skipped_before_it_is_parsed() -> None:
    data = zip_bytes({f"f{i}.env": b"x" for i in range(11)})
    assert summary(expand_path(data, "many.zip", ArchiveLimits(max_members=10))) == [
        ("Skipped", "many.zip", "more than 10 members (11 in the central directory)")
    ]


def test_a_stored_zip_inside_a_zip_does_not_count_towards_the_outer_entries() -> None:
    inner = zip_bytes({f"f{i}.txt": b"x" for i in range(50)})
    outer = zip_bytes({"lib/inner.jar": inner, "app.env": PAIR}, zipfile.ZIP_STORED)
    items = expand_path(outer, "app.war", ArchiveLimits(max_members=10))
    assert summary(items) == [
        ("Skipped", "app.war!lib/inner.jar", "more than 10 members (50 in the central directory)"),
        ("Blob", "app.war!app.env", len(PAIR)),
    ]


def test_a_tar_with_too_many_members_yields_the_first_ones_then_stops() -> None:
    data = tar_bytes({f"f{i:02}.env": b"x" for i in range(11)}, "w:gz")
    items = expand_path(data, "many.tgz", ArchiveLimits(max_members=10))
    assert [i.provenance.path for i in items if isinstance(i, Blob)] == [
        f"many.tgz!f{i:02}.env" for i in range(10)
    ]
    assert summary(items)[-1] == ("Skipped", "many.tgz", "more than 10 members")


# --- bombs -----------------------------------------------------------------------------------
def test_the_bomb_builders_build_what_they_claim() -> None:
    assert gzip.decompress(gzip_zeros(3)) == bytes(3 * MiB)
    with zipfile.ZipFile(io.BytesIO(overlapping_zip(entries=3, kernel_mib=2))) as archive:
        infos = archive.infolist()
        assert [i.header_offset for i in infos] == [0, 0, 0]
        # Read the first: newer zipfiles refuse the others ("Overlapped entries"), keysentry does not
        # use zipfile's reader, so that check does not protect it and the limits must.
        assert archive.read(infos[0]) == bytes(2 * MiB)


@pytest.mark.parametrize("member_limit", [4 * MiB, ArchiveLimits().max_member_bytes])
def test_a_gzip_bomb_is_stopped_at_the_member_limit_and_memory_stays_near_it(member_limit: int) -> None:
    bomb = gzip_zeros(1024)  # 1 MiB that inflates to 1 GiB
    limits = ArchiveLimits(max_member_bytes=member_limit)
    items, peak = peak_memory(bomb, "bomb.txt.gz", limits)
    assert summary(items) == [
        ("Skipped", "bomb.txt.gz!bomb.txt", f"decompresses past the {member_limit // MiB} MiB member limit")
    ]
    # The whole GiB is never inflated: memory follows the limit, not the bomb.
    assert peak < member_limit + 8 * MiB


def test_a_gzip_bomb_trips_the_ratio_limit_first_when_it_is_smaller() -> None:
    bomb = gzip_zeros(256)  # 260 KB that inflates to 256 MiB: a ratio near 1000
    items, peak = peak_memory(bomb, "bomb.gz")
    (skipped,) = items
    assert isinstance(skipped, Skipped) and skipped.provenance.path == "bomb.gz"
    assert skipped.reason.startswith("compression ratio above 200 (")
    assert peak < 200 * len(bomb) + 8 * MiB < 64 * MiB


def test_a_zip_member_bomb_is_skipped_and_its_siblings_are_still_read() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("data/zeros.bin", "w") as out:
            for _ in range(32):
                out.write(bytes(MiB))
        archive.writestr("pkg/.env", PAIR)
    items = expand_path(buf.getvalue(), "pkg.whl")
    assert [(type(i).__name__, i.provenance.path) for i in items] == [
        ("Skipped", "pkg.whl!data/zeros.bin"),
        ("Blob", "pkg.whl!pkg/.env"),
    ]
    assert isinstance(items[0], Skipped) and items[0].reason.startswith("compression ratio above 200 (")


def test_an_overlapping_entry_zip_bomb_is_stopped_by_the_total_limit() -> None:
    # 1000 entries x 16 MiB = 16 GiB from 70 KB.  With the ratio check out of the way, only the
    # total limit stands between the bomb and the machine.
    bomb = overlapping_zip(entries=1000, kernel_mib=16)
    limits = ArchiveLimits(max_ratio=UNLIMITED_RATIO, max_total_bytes=64 * MiB)
    items = summary(expand(Blob(bomb, Provenance(kind="file", path="overlap.zip")), limits))
    assert items == [("Blob", "overlap.zip!zeros.txt", 16 * MiB)] * 4 + [
        ("Skipped", "overlap.zip!zeros.txt", "archive total past 64 MiB; the rest was not read")
    ]


def test_an_overlapping_entry_zip_bomb_is_stopped_early_by_the_default_limits() -> None:
    bomb = overlapping_zip(entries=1000, kernel_mib=16)
    items = expand_path(bomb, "overlap.zip")
    assert len(items) < 10
    last = items[-1]
    assert isinstance(last, Skipped) and last.provenance.path == "overlap.zip"
    assert last.reason.startswith("compression ratio above 200 (")
    assert not any(isinstance(i, Blob) for i in items)


def test_a_42_zip_style_bomb_stops_at_the_depth_limit() -> None:
    bomb = nested_bomb(copies=6, layers=5, innermost_mib=4)  # 6**4 * 4 MiB = 5 GiB
    items = expand_path(bomb, "42.zip")
    assert len(items) == 6**4
    assert set(reasons(items).values()) == {"nested deeper than 4 archives"}
    assert items[0].provenance.path == "42.zip!0.zip!0.zip!0.zip!0.zip"


def test_a_42_zip_style_bomb_stops_at_the_total_limit_when_depth_allows() -> None:
    bomb = nested_bomb(copies=6, layers=5, innermost_mib=4)
    limits = ArchiveLimits(max_depth=10, max_ratio=UNLIMITED_RATIO, max_total_bytes=64 * MiB)
    items = summary(expand(Blob(bomb, Provenance(kind="file", path="42.zip")), limits))
    *blobs, last = items
    assert all(kind == "Blob" and size == 4 * MiB for kind, _, size in blobs)
    assert len(blobs) < 16
    assert last[0] == "Skipped" and last[2] == "archive total past 64 MiB; the rest was not read"


def test_a_tar_header_that_claims_a_huge_long_name_is_refused_unread() -> None:
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = 1 << 33
    data = gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT) + bytes(4096))
    assert summary(expand_path(data, "long.tgz")) == [
        ("Skipped", "long.tgz", "a tar header asks for more than the 64 MiB member limit")
    ]


# --- corrupt and truncated -------------------------------------------------------------------
def test_a_truncated_tar_gz_yields_the_members_before_the_break_and_a_skip() -> None:
    noise = random.Random(7).randbytes(300_000)  # incompressible, so the cut lands inside it
    data = tar_bytes({"a.env": PAIR, "b.bin": noise, "c.env": PAIR}, "w:gz")
    items = expand_path(data[: len(data) * 2 // 3], "cut.tgz")
    assert [(type(i).__name__, i.provenance.path) for i in items] == [
        ("Blob", "cut.tgz!a.env"),
        ("Skipped", "cut.tgz"),
    ]
    assert isinstance(items[1], Skipped) and items[1].reason.startswith("corrupt tar.gz: ")


def test_a_tar_cut_between_members_is_reported_not_taken_as_complete() -> None:
    data = tar_bytes({"a.env": PAIR, "b.env": PAIR})
    cut = data[: 512 + 512 + 512]  # a.env's header and data, b.env's header: no data, no end blocks
    assert summary(expand_path(cut, "cut.tar")) == [
        ("Blob", "cut.tar!a.env", len(PAIR)),
        ("Skipped", "cut.tar", "corrupt tar: unexpected end of data"),
    ]
    assert summary(expand_path(data[:1024], "cut.tar")) == [
        ("Blob", "cut.tar!a.env", len(PAIR)),
        ("Skipped", "cut.tar", "corrupt tar: truncated (no end-of-archive block)"),
    ]


def test_garbage_after_a_gzip_header_is_a_skip() -> None:
    data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + random.Random(1).randbytes(200)
    ((kind, path, reason),) = summary(expand_path(data, "junk.gz"))
    assert (kind, path) == ("Skipped", "junk.gz") and str(reason).startswith("corrupt gzip: ")


def test_a_corrupt_zip_is_a_skip_and_a_bad_crc_only_costs_that_member() -> None:
    ((kind, path, reason),) = summary(expand_path(b"PK\x03\x04" + bytes(100), "broken.zip"))
    assert (kind, path) == ("Skipped", "broken.zip") and str(reason).startswith("corrupt zip: ")

    data = bytearray(zip_bytes({"a.env": PAIR, "b.env": PAIR}, zipfile.ZIP_STORED))
    data[data.index(SECRET.encode())] ^= 0x20
    assert summary(expand_path(bytes(data), "crc.zip")) == [
        ("Skipped", "crc.zip!a.env", "corrupt zip: bad CRC-32 for 'a.env'"),
        ("Blob", "crc.zip!b.env", len(PAIR)),
    ]


@pytest.mark.parametrize("name", ["bundle.zip", "bzip2.zip", "bundle.tar", "bundle.tar.gz", "bundle.tar.xz"])
def test_damaged_archives_never_raise(name: str) -> None:
    rng = random.Random(name)
    inner = zip_bytes({"inner.env": PAIR})
    data = FORMATS[name]({"a.env": PAIR * 20, "b.bin": rng.randbytes(2000), "inner.zip": inner})
    for _ in range(300):
        damaged = bytearray(data)
        if rng.random() < 0.5:
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        else:
            del damaged[rng.randrange(1, len(damaged)) :]
        for item in expand_path(bytes(damaged), name):
            assert isinstance(item, Blob | Skipped)


def test_a_zip_member_with_an_empty_name_is_still_scanned() -> None:
    """Damage can leave a member with no name; zipfile's own ZipInfo.is_dir() raises on it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("placeholder", date_time=(2020, 1, 1, 0, 0, 0))
        info.filename = ""
        archive.writestr(info, PAIR)
    items = expand_path(buf.getvalue(), "bundle.zip")
    assert [(type(item).__name__, item.provenance.path) for item in items] == [
        ("Blob", "bundle.zip!<unnamed>")
    ]
