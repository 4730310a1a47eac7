"""The SQL great-circle distance used by the ``near`` filter (coarse places: ``backend.disclosure``)."""

import math
from typing import Any

from sqlalchemy import func

from backend.disclosure import coarse  # noqa: F401 - the coarse place is owned by backend.disclosure

EARTH_RADIUS_KM = 6371.0088


def distance_km_sql(lat: Any, lon: Any, at_lat: float, at_lon: float) -> Any:
    """Haversine distance between SQL columns and a point, in km (PostgreSQL and SQLite with math)."""
    dlat = func.radians(lat - at_lat) / 2
    dlon = func.radians(lon - at_lon) / 2
    a = func.sin(dlat) * func.sin(dlat) + (
        math.cos(math.radians(at_lat)) * func.cos(func.radians(lat)) * func.sin(dlon) * func.sin(dlon))
    return 2 * EARTH_RADIUS_KM * func.asin(func.sqrt(a))


def bounding_box(at_lat: float, at_lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """A lat/lon box certainly holding the circle; lets an index narrow rows before the exact test."""
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(at_lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return at_lat - dlat, at_lat + dlat, at_lon - dlon, at_lon + dlon
