"""The store, on SQLite and PostgreSQL: migrations, idempotent recording, an append-only timeline."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from keysentry.content import Provenance
from keysentry.detect.findings import Finding, Location
from keysentry.store import open_store
from keysentry.store.exposures import list_exposures, record_finding
from keysentry.store.models import Base, Exposure, TimelineEvent


def finding(path: str = "a.env", line: int = 3) -> Finding:
    return Finding(
        rule_id="aws-access-key",
        credential_type="aws_access_key",
        key_id="AKIAQMW4NRYRP4KPFPY4",
        secret_fingerprint="ab" * 32,
        account_id="027305807394",
        locations=[Location(Provenance("file", path=path), line, 1)],
    )


def test_migrations_reach_head_and_match_the_models(database_url: str) -> None:
    store = open_store(database_url)
    assert store.current_revision() == store.head_revision() is not None
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    store.migrate()  # a second upgrade is a no-op
    store.dispose()


def test_the_same_credential_seen_again_is_one_exposure_and_one_sighting_per_place(database_url: str) -> None:
    store = open_store(database_url)
    with store.session() as s:
        first = record_finding(s, finding())
    with store.session() as s:
        again = record_finding(s, finding())
    with store.session() as s:
        elsewhere = record_finding(s, finding(path="b.env"))
    assert (first.created, first.new_sightings) == (True, 1)
    assert (again.created, again.new_sightings) == (False, 0)
    assert (elsewhere.created, elsewhere.new_sightings) == (False, 1)
    with store.session() as s:
        [exposure] = list_exposures(s)
        assert [x.path for x in exposure.sightings] == ["a.env", "b.env"]
        assert [t.kind for t in exposure.timeline] == ["detected", "sighted", "sighted"]
    store.dispose()


def test_the_timeline_refuses_updates_and_deletes(database_url: str) -> None:
    store = open_store(database_url)
    with store.session() as s:
        record_finding(s, finding())
    for statement in (sa.update(TimelineEvent).values(kind="forged"), sa.delete(TimelineEvent)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.session() as s:
            s.execute(statement)
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TimelineEvent)) == 2
        assert s.scalar(sa.select(Exposure.state)) == "new"
    store.dispose()


def test_timestamps_come_back_in_utc(database_url: str) -> None:
    store = open_store(database_url)
    with store.session() as s:
        exposure_id = record_finding(s, finding()).exposure_id
    with store.session() as s:
        detected = s.get(Exposure, exposure_id).detected_at  # type: ignore[union-attr]
    with store.session() as s:
        again = s.get(Exposure, exposure_id)
        assert again is not None
        assert again.detected_at == detected and again.detected_at.utcoffset().total_seconds() == 0
    store.dispose()


def test_an_unreachable_database_is_a_clear_error(tmp_path) -> None:
    from keysentry.errors import StoreError

    with pytest.raises(StoreError, match="cannot"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/none")
