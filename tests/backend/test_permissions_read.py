"""The read half of the permission matrix (see test_permissions.py), on one world shared by the module:
reads change nothing, so building the world once keeps the matrix fast on both databases."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.backend.conftest import ROLES, World, build_world
from tests.backend.test_permissions import READS, Body


@pytest.fixture(scope="module")
def shared_world(database_url: str) -> Iterator[tuple[World, Any]]:
    """One world for all read-only cases of this module (reads change nothing), emptied afterwards."""
    from sqlalchemy import text

    from backend.db import engine_for, new_session
    from backend.main import create_app
    from backend.models import metadata

    with new_session() as session:
        world = build_world(session)
        session.commit()
    yield world, create_app()
    with engine_for(database_url).begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "body", "expected"), READS, ids=[c[0] for c in READS])
def test_read_permissions(shared_world: tuple[World, Any], role: str, name: str, method: str, path: str,
                          body: Body, expected: dict[str, int]) -> None:
    from fastapi.testclient import TestClient

    world, app = shared_world
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {world.tokens[role]}"
        response = client.get(path.format(**world.ids))
    want = expected.get(role, expected["*"])
    assert response.status_code == want, f"{role} GET {path}: {response.status_code} {response.text[:300]}"


