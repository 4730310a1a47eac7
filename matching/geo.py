"""Great-circle geometry and the spatial index used to find candidate pairs.

Points are turned into unit vectors in 3D so that a k-d tree with Euclidean (chord) distance answers
"every point within great-circle distance r" exactly: the chord ``c = 2 sin(r / 2R)`` is monotone in r.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

__all__ = [
    "EARTH_RADIUS_KM",
    "SpatialIndex",
    "chord_for_km",
    "haversine_km",
    "unit_vectors",
]

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
FloatArray = npt.NDArray[np.float64]


def haversine_km(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike,
                 lon2: npt.ArrayLike) -> FloatArray:
    """Great-circle distance in km (haversine, R = 6371.0088 km), element-wise on arrays.

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : array_like
        Coordinates in decimal degrees (WGS84).

    Returns
    -------
    numpy.ndarray
        Distances in km, broadcast over the inputs.

    Examples
    --------
    >>> round(float(haversine_km(37.91, 112.18, 37.87, 112.55)), 1)  # Gujiao to Taiyuan, straight line
    32.8
    """
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def unit_vectors(lat: npt.ArrayLike, lon: npt.ArrayLike) -> FloatArray:
    """Points on the unit sphere, shape (n, 3), for the k-d tree."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lmb = np.radians(np.asarray(lon, dtype=np.float64))
    cphi = np.cos(phi)
    return np.column_stack([cphi * np.cos(lmb), cphi * np.sin(lmb), np.sin(phi)])


def chord_for_km(km: npt.ArrayLike) -> FloatArray:
    """Chord length on the unit sphere for a great-circle distance in km (capped at the antipode).

    A small relative margin is added so that floating-point error never drops a pair exactly on the
    radius; callers re-check the exact distance afterwards.
    """
    angle = np.minimum(np.asarray(km, dtype=np.float64) / EARTH_RADIUS_KM, np.pi)
    return np.asarray(2.0 * np.sin(angle / 2.0) * (1.0 + 1e-9) + 1e-12, dtype=np.float64)


class SpatialIndex:
    """Points on the sphere, queried for every point within a great-circle radius (exact, no k-nearest).

    Parameters
    ----------
    lat, lon : array_like
        Coordinates of the indexed points in degrees.

    Examples
    --------
    >>> idx = SpatialIndex([39.63, 31.32], [118.18, 120.72])
    >>> src, dst = idx.pairs_within([39.05], [117.71], [120.0])
    >>> dst.tolist()
    [0]
    """

    def __init__(self, lat: npt.ArrayLike, lon: npt.ArrayLike):
        self._xyz = unit_vectors(lat, lon)
        self._tree = cKDTree(self._xyz) if len(self._xyz) else None

    def __len__(self) -> int:
        return len(self._xyz)

    def pairs_within(self, lat: npt.ArrayLike, lon: npt.ArrayLike,
                     radius_km: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every (query point, indexed point) pair whose great-circle distance is at most the query's radius.

        Parameters
        ----------
        lat, lon : array_like
            Query points in degrees.
        radius_km : array_like
            One radius per query point (or a scalar); non-positive radii match nothing.

        Returns
        -------
        (query_index, indexed_index) : tuple of int64 arrays
            Candidate pairs; may include a few pairs just beyond the radius (float margin), never miss one.
        """
        q = unit_vectors(lat, lon)
        radius = np.broadcast_to(np.asarray(radius_km, dtype=np.float64), (len(q),))
        empty = np.empty(0, dtype=np.int64)
        if self._tree is None or len(q) == 0:
            return empty, empty
        active = np.flatnonzero(radius >= 0)
        if len(active) == 0:
            return empty, empty
        hits = self._tree.query_ball_point(q[active], chord_for_km(radius[active]), return_sorted=False)
        lengths = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
        total = int(lengths.sum())
        if total == 0:
            return empty, empty
        flat = np.fromiter((j for h in hits for j in h), dtype=np.int64, count=total)
        return np.repeat(active, lengths), flat
