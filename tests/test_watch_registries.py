"""PyPI's and npm's new releases: found through their real feeds (PyPI's updates RSS and JSON API, the
npm registry's CouchDB changes feed and package documents), downloaded, checked against the published
hashes, scanned as the archives they are; each release scanned once, nothing lost to a rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from helpers import planted_pair
from keysentry.errors import SourceError
from keysentry.watch.npm import NpmWatch
from keysentry.watch.pypi import PyPIWatch
from public_sources import PublicSource, Reply, json_reply, sha256, sri_sha512, tar_gz, zip_bytes


@pytest.fixture
def registry(public_source: PublicSource) -> PublicSource:
    return public_source


def env(kid: str, secret: str) -> str:
    return f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n"


# --- PyPI ---------------------------------------------------------------------------------------
def rss(base: str, releases: list[tuple[str, str]]) -> Reply:
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>{name} {version}</title><link>{base}/project/{name}/{version}/</link>"
        f"<description>A package</description><author>dev@example.com</author>"
        f"<pubDate>{format_datetime(now)}</pubDate></item>"
        for name, version in releases
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>PyPI recent updates</title><link>{base}/</link>"
        f"<description>Recent updates to the Python Package Index</description><language>en</language>{items}"
        "</channel></rss>"
    )
    return Reply(200, xml.encode(), {"Content-Type": "text/xml; charset=utf-8"})


def publish_pypi(
    source: PublicSource,
    name: str,
    version: str,
    files: dict[str, bytes],
    digests: dict[str, str] | None = None,
) -> None:
    urls = []
    for filename, data in files.items():
        path = f"/packages/ab/cd/{filename}"
        source.routes[path] = Reply(200, data, {"Content-Type": "application/octet-stream"})
        urls.append(
            {
                "filename": filename,
                "url": f"{source.url}{path}",
                "size": len(data),
                "packagetype": "sdist" if filename.endswith(".tar.gz") else "bdist_wheel",
                "python_version": "source" if filename.endswith(".tar.gz") else "py3",
                "digests": {"sha256": (digests or {}).get(filename, sha256(data)), "md5": "0" * 32},
                "upload_time_iso_8601": "2026-12-02T09:00:00.123456",  # some mirrors drop the "Z"
                "yanked": False,
                "requires_python": ">=3.9",
            }
        )
    source.routes[f"/pypi/{name}/{version}/json"] = json_reply(
        {
            "info": {"name": name, "version": version, "summary": "A package"},
            "urls": urls,
            "vulnerabilities": [],
        }
    )


def test_new_pypi_releases_are_downloaded_checked_and_scanned(registry: PublicSource) -> None:
    kid, secret = planted_pair(1)
    other_kid, other_secret = planted_pair(2)
    publish_pypi(
        registry,
        "acme-client",
        "1.4.0",
        {
            "acme_client-1.4.0.tar.gz": tar_gz(
                {"acme_client-1.4.0/acme/settings.py": "DEBUG = True\n" + env(kid, secret)}
            ),
            "acme_client-1.4.0-py3-none-any.whl": zip_bytes({"acme/__init__.py": "VERSION = '1.4.0'\n"}),
        },
    )
    tampered = zip_bytes({"t/__init__.py": env(other_kid, other_secret)})
    publish_pypi(
        registry,
        "tampered",
        "0.1",
        {"tampered-0.1-py3-none-any.whl": tampered},
        digests={"tampered-0.1-py3-none-any.whl": "f" * 64},
    )
    registry.routes["/rss/updates.xml"] = rss(registry.url, [("tampered", "0.1"), ("acme-client", "1.4.0")])
    watch = PyPIWatch(registry.url, interval=45)

    poll = watch.poll({})
    assert poll.items == 2 and poll.next_poll == 45
    assert [f.key_id for f in poll.report.findings] == [kid]
    where = poll.report.findings[0].locations[0].provenance
    assert where.kind == "pypi"
    assert where.path == "acme_client-1.4.0.tar.gz!acme_client-1.4.0/acme/settings.py"
    assert where.repository == f"{registry.url}/project/acme-client/1.4.0/"
    assert where.committed_at is not None and where.committed_at.tzinfo is not None
    assert [s.reason for s in poll.report.skipped] == [
        "the download does not match the SHA-256 PyPI publishes"
    ]

    assert watch.poll(poll.state).items == 0  # the same feed: nothing is downloaded again
    assert len(registry.got("/packages/ab/cd/acme_client-1.4.0.tar.gz")) == 1

    publish_pypi(
        registry, "acme-client", "1.4.1", {"acme_client-1.4.1.tar.gz": tar_gz({"x/setup.py": "pass\n"})}
    )
    registry.routes["/rss/updates.xml"] = rss(
        registry.url, [("acme-client", "1.4.1"), ("tampered", "0.1"), ("acme-client", "1.4.0")]
    )
    newer = watch.poll(poll.state)
    assert newer.items == 1 and newer.report.findings == []
    assert len(registry.got("/pypi/acme-client/1.4.0/json")) == 1


def test_pypi_rate_limits_keep_releases_pending(registry: PublicSource) -> None:
    kid, secret = planted_pair(3)
    publish_pypi(registry, "late", "2.0", {"late-2.0.tar.gz": tar_gz({"late/.env": env(kid, secret)})})
    registry.routes["/rss/updates.xml"] = rss(registry.url, [("late", "2.0")])
    answer = registry.routes["/pypi/late/2.0/json"]
    registry.routes["/pypi/late/2.0/json"] = Reply(429, b"Too Many Requests", {"Retry-After": "30"})
    watch = PyPIWatch(registry.url)
    poll = watch.poll({})
    assert poll.next_poll == 30 and poll.state["pending"] == ["late==2.0"] and poll.report is None
    registry.routes["/pypi/late/2.0/json"] = answer
    later = watch.poll(poll.state)
    assert [f.key_id for f in later.report.findings] == [kid] and later.state["pending"] == []


def test_hostile_pypi_answers(registry: PublicSource) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><rss>&lol2;</rss>'
    )
    registry.routes["/rss/updates.xml"] = Reply(200, bomb, {"Content-Type": "text/xml"})
    with pytest.raises(SourceError, match="not readable RSS"):
        PyPIWatch(registry.url).poll({})
    huge = b"x" * 4096
    publish_pypi(registry, "big", "1.0", {"big-1.0.tar.gz": huge})
    registry.routes["/rss/updates.xml"] = rss(registry.url, [("big", "1.0")])
    poll = PyPIWatch(registry.url, max_download_bytes=1024).poll({})
    assert "larger than the 1024" in poll.report.skipped[0].reason
    assert registry.got("/packages/ab/cd/big-1.0.tar.gz") == []  # the size PyPI states is enough

    kid, secret = planted_pair(9)
    registry.routes["/pypi/odd/1/json"] = json_reply(["not", "a", "release"])
    publish_pypi(registry, "fine", "1", {"fine-1.tar.gz": tar_gz({"f/.env": env(kid, secret)})})
    registry.routes["/rss/updates.xml"] = rss(registry.url, [("fine", "1"), ("odd", "1")])
    poll = PyPIWatch(registry.url).poll({})  # the malformed release is logged and passed over
    assert [f.key_id for f in poll.report.findings] == [kid] and poll.state["pending"] == []


# --- npm ----------------------------------------------------------------------------------------
def publish_npm(
    source: PublicSource,
    name: str,
    versions: dict[str, tuple[bytes, datetime]],
    bad_integrity: tuple[str, ...] = (),
) -> None:
    doc_versions, times = {}, {}
    for version, (tarball, when) in versions.items():
        base = name.rsplit("/", 1)[-1]
        path = f"/{name}/-/{base}-{version}.tgz"
        source.routes[path] = Reply(200, tarball, {"Content-Type": "application/octet-stream"})
        integrity = sri_sha512(b"other" if version in bad_integrity else tarball)
        doc_versions[version] = {
            "name": name,
            "version": version,
            "main": "index.js",
            "dist": {
                "integrity": integrity,
                "shasum": "0" * 40,
                "tarball": f"{source.url}{path}",
                "fileCount": 2,
                "unpackedSize": 100,
            },
        }
        times[version] = when.isoformat().replace("+00:00", "Z")
    times.update(created=min(times.values()), modified=max(times.values()))
    latest = list(versions)[-1]
    source.routes[f"/{name.replace('/', '%2F')}"] = json_reply(
        {
            "_id": name,
            "_rev": "3-abc",
            "name": name,
            "dist-tags": {"latest": latest},
            "versions": doc_versions,
            "time": times,
            "maintainers": [{"name": "dev", "email": "dev@example.com"}],
        }
    )


def changes(seq_from: int, names: list[str], deleted: tuple[str, ...] = ()) -> Reply:
    results = [
        {
            "seq": seq_from + i + 1,
            "id": n,
            "changes": [{"rev": f"{i + 1}-abc"}],
            **({"deleted": True} if n in deleted else {}),
        }
        for i, n in enumerate(names)
    ]
    return json_reply({"results": results, "last_seq": seq_from + len(names)})


def test_new_npm_versions_are_followed_downloaded_checked_and_scanned(registry: PublicSource) -> None:
    kid, secret = planted_pair(4)
    now = datetime.now(UTC)
    registry.routes["/"] = json_reply({"db_name": "registry", "update_seq": 5000, "doc_count": 3000000})
    watch = NpmWatch(registry.url, registry.url, interval=30)
    first = watch.poll({})
    assert first.report is None and first.state["since"] == 5000  # the registry's past is not rescanned

    leak = tar_gz(
        {"package/package.json": '{"name": "@acme/sdk"}', "package/lib/config.js": env(kid, secret)}
    )
    publish_npm(
        registry,
        "@acme/sdk",
        {
            "1.0.0": (
                tar_gz({"package/index.js": env(*planted_pair(5))}),
                now - timedelta(days=30),
            ),  # old: not read
            "1.1.0": (leak, now - timedelta(minutes=2)),
            "1.1.1": (tar_gz({"package/index.js": env(*planted_pair(6))}), now - timedelta(minutes=1)),
        },
        bad_integrity=("1.1.1",),
    )
    registry.routes["/_changes"] = changes(5000, ["@acme/sdk", "gone-pkg"], deleted=("gone-pkg",))

    poll = watch.poll(first.state)
    assert registry.got("/_changes")[-1].query["since"] == "5000"
    assert poll.state["since"] == 5002 and poll.items == 2 and poll.next_poll == 30
    assert [f.key_id for f in poll.report.findings] == [kid]
    where = poll.report.findings[0].locations[0].provenance
    assert (where.kind, where.path) == ("npm", "sdk-1.1.0.tgz!package/lib/config.js")
    assert where.repository == "https://www.npmjs.com/package/@acme/sdk/v/1.1.0"
    assert [s.reason for s in poll.report.skipped] == [
        "the tarball does not match the integrity the registry publishes"
    ]
    assert registry.got("/@acme/sdk/-/sdk-1.0.0.tgz") == []
    assert registry.got("/gone-pkg") == []

    registry.routes["/_changes"] = changes(5002, ["@acme/sdk"])  # changed again (a dist-tag, say)
    again = watch.poll(poll.state)
    assert again.items == 0 and len(registry.got("/@acme/sdk/-/sdk-1.1.0.tgz")) == 1


def test_npm_rate_limits_keep_packages_pending(registry: PublicSource) -> None:
    kid, secret = planted_pair(7)
    publish_npm(registry, "leaky", {"0.0.1": (tar_gz({"package/.env": env(kid, secret)}), datetime.now(UTC))})
    document = registry.routes["/leaky"]
    registry.routes["/leaky"] = Reply(429, b"", {"Retry-After": "12"})
    registry.routes["/_changes"] = changes(10, ["leaky"])
    watch = NpmWatch(registry.url, registry.url)
    poll = watch.poll({"since": 10})
    assert poll.next_poll == 12 and poll.state["pending"] == ["leaky"] and poll.state["since"] == 11
    registry.routes["/leaky"] = document
    registry.routes["/_changes"] = changes(11, [])
    later = watch.poll(poll.state)
    assert [f.key_id for f in later.report.findings] == [kid] and later.state["pending"] == []


def test_a_full_changes_page_is_followed_at_once(registry: PublicSource) -> None:
    registry.routes["/_changes"] = changes(0, ["a", "b"], deleted=("a", "b"))
    assert NpmWatch(registry.url, registry.url, batch=2).poll({"since": 0}).next_poll == 0
