"""The camera of docs/design.md in numpy, and the rule that sizes every asset to fit its frame.

No bpy here, so the renderer, the asset builder and the tests share one definition of where a
vertex lands in the image. The camera sits at CAMERA_LOCATION looking at the origin with image up
along +Y (a Blender camera with a Track To constraint: track -Z, up Y), a LENS_MM lens on a
SENSOR_WIDTH_MM sensor, square image.
"""

import itertools

import numpy as np

from mindseye.core.constants import ROTATION_LIMIT

CAMERA_LOCATION = (0.0, -0.2, 2.5)
LENS_MM = 50.0
SENSOR_WIDTH_MM = 36.0

# The whole object must stay inside this fraction of the frame (half-width), at every rotation.
FRAME_FILL = 0.9


def euler_zxy_matrix(rotation: np.ndarray) -> np.ndarray:
    """Rotation matrices (n, 3, 3) of Blender Euler angles (n, 3) in rotation_mode 'ZXY'.

    'ZXY' applies Z first, then X, then Y: R = Ry @ Rx @ Rz (checked against mathutils).
    """
    rotation = np.atleast_2d(np.asarray(rotation, dtype=np.float64))
    cx, cy, cz = np.cos(rotation).T
    sx, sy, sz = np.sin(rotation).T
    zeros, ones = np.zeros_like(cx), np.ones_like(cx)
    rx = np.stack([ones, zeros, zeros, zeros, cx, -sx, zeros, sx, cx], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zeros, sy, zeros, ones, zeros, -sy, zeros, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cz, -sz, zeros, sz, cz, zeros, zeros, zeros, ones], -1).reshape(-1, 3, 3)
    return ry @ rx @ rz


def camera_axes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's (right, up, forward) unit vectors in world space."""
    forward = -np.asarray(CAMERA_LOCATION)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    return right, np.cross(right, forward), forward


def project(vertices: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Image coordinates (n_rotations, n_vertices, 2) of object-space vertices (n, 3).

    Coordinates are normalised so the frame spans [-1, 1] on both axes (x right, y up).
    """
    right, up, forward = camera_axes()
    world = np.einsum("rij,vj->rvi", euler_zxy_matrix(rotations), vertices)
    relative = world - np.asarray(CAMERA_LOCATION)
    depth = relative @ forward
    if np.any(depth <= 0):
        raise ValueError("a vertex lies behind the camera; the object is far too large")
    half_width = (SENSOR_WIDTH_MM / 2) / LENS_MM
    return np.stack([relative @ right, relative @ up], -1) / (depth[..., None] * half_width)


def check_rotations(steps: int = 5) -> np.ndarray:
    """A grid of `steps`^3 rotations over the sampled box: its corners, edges and inside."""
    axis = np.linspace(-ROTATION_LIMIT, ROTATION_LIMIT, steps)
    return np.array(list(itertools.product(axis, axis, axis)))


def extent(vertices: np.ndarray, rotations: np.ndarray | None = None) -> float:
    """The largest |image coordinate| any vertex reaches over the rotations (1 = frame edge)."""
    rotations = check_rotations() if rotations is None else rotations
    return float(np.abs(project(vertices, rotations)).max())


def fit_to_frame(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """The (centre, scale) that make `(vertices - centre) * scale` fill FRAME_FILL of the frame.

    The centre is the bounding-box centre; the scale is the largest one that keeps every vertex
    inside FRAME_FILL of the frame at every rotation of `check_rotations()`. Perspective makes
    the extent grow slightly faster than linearly with scale, so the scale is found by bisection.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) == 0:
        raise ValueError("no vertices to fit")
    centre = (vertices.min(0) + vertices.max(0)) / 2
    centred = vertices - centre
    size = np.linalg.norm(centred, axis=1).max()
    if size == 0:
        raise ValueError("all vertices coincide; the object has no size")
    rotations = check_rotations()
    low, high = 0.0, 1.0 / size  # an object of radius 1 at 2.5 m never fits a 40 degree view
    for _ in range(40):
        middle = (low + high) / 2
        if extent(centred * middle, rotations) <= FRAME_FILL:
            low = middle
        else:
            high = middle
    return centre, low
