"""The camera model and the framing rule, in numpy."""

import itertools

import numpy as np

from mindseye.blender_assets.framing import (
    CAMERA_LOCATION,
    FRAME_FILL,
    euler_zxy_matrix,
    extent,
    fit_to_frame,
    project,
)
from mindseye.core.constants import ROTATION_LIMIT

CORNERS = np.array(list(itertools.product((-ROTATION_LIMIT, ROTATION_LIMIT), repeat=3)))


def test_the_camera_looks_at_the_origin_with_up_along_y() -> None:
    points = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]])
    centre, right, up = project(points, np.zeros((1, 3)))[0]
    np.testing.assert_allclose(centre, 0.0, atol=1e-12)
    assert right[0] > 0 and abs(right[1]) < 1e-12
    assert up[1] > 0 and abs(up[0]) < 1e-12


def test_a_point_at_the_frame_edge_follows_the_field_of_view() -> None:
    # 50 mm lens on a 36 mm sensor: half the frame is 18/50 of the distance along the view axis.
    distance = np.linalg.norm(CAMERA_LOCATION)
    forward = -np.asarray(CAMERA_LOCATION) / distance
    edge = np.asarray(CAMERA_LOCATION) + distance * forward + np.array([18 / 50 * distance, 0, 0])
    np.testing.assert_allclose(project(edge[None], np.zeros((1, 3)))[0, 0], [1.0, 0.0], atol=1e-9)


def test_euler_zxy_applies_z_then_x_then_y() -> None:
    x, y, z = 0.3, -0.2, 0.4
    (matrix,) = euler_zxy_matrix(np.array([[x, y, z]]))
    only = [euler_zxy_matrix(np.array([angles]))[0] for angles in np.diag([x, y, z])]
    np.testing.assert_allclose(matrix, only[1] @ only[0] @ only[2])
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)


def test_fitted_objects_stay_inside_the_frame_at_every_corner_rotation() -> None:
    rng = np.random.default_rng(0)
    for stretch in ([1, 1, 1], [3, 0.2, 0.5], [0.1, 2, 0.1]):
        vertices = rng.normal(size=(500, 3)) * stretch + rng.uniform(-5, 5, 3)
        centre, scale = fit_to_frame(vertices)
        fitted = (vertices - centre) * scale
        reach = extent(fitted, CORNERS)
        assert reach <= FRAME_FILL + 1e-9
        # The scale is the largest that fits the checked grid: a little larger does not.
        assert extent(fitted * 1.01) > FRAME_FILL
        assert reach > 0.8
