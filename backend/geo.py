"""Coarse locations for anonymous listings and the SQL great-circle distance used by the ``near`` filter."""

import math
from typing import Any

from sqlalchemy import func

EARTH_RADIUS_KM = 6371.0088
COARSE_CELL_DEG = 0.1  # about 11 km north-south; what others see of an anonymous listing's place
COARSE_PRECISION_KM = 10.0


def coarse(value: float) -> float:
    """Centre of the COARSE_CELL_DEG cell holding ``value``: the same for every point in the cell."""
    cell = math.floor(value / COARSE_CELL_DEG)
    return round((cell + 0.5) * COARSE_CELL_DEG, 4)


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
