"""Fig. 5's drawing of the predicted angles: a real Blender re-render when the classes have
registered 3D models, the run's projector otherwise."""

import numpy as np
import pytest

from eval.gallery import Overlay, pick_by_distortion
from tests.fixtures.runs import untrained_run
from tests.fixtures.synthetic_shapes import CLASSES


def test_gallery_rows_span_the_distortions_in_order():
    records = [{"distortion": value} for value in np.random.default_rng(0).uniform(0, 1, 50)]
    picked = [r["distortion"] for r in pick_by_distortion(records, rows=5)]
    everything = sorted(r["distortion"] for r in records)
    assert picked == sorted(picked) and picked[0] == everything[0]
    assert picked[-1] == everything[-1]


def test_classes_without_a_3d_model_are_drawn_by_the_projector(tmp_path):
    run = untrained_run(tmp_path / "run", CLASSES, ("projector",))
    overlay = Overlay(run, CLASSES, "cpu")
    drawing, alpha = overlay.draw(1, np.zeros((2, 3)))
    assert overlay.kind == "projector" and "disc" in overlay.reason
    assert drawing.shape == alpha.shape == (2, 64, 64) and drawing.dtype == np.uint8


@pytest.mark.blender
def test_registered_classes_are_re_rendered_by_blender(tmp_path):
    from blender_assets.registry import load_classes

    classes = [*load_classes(), "none"]
    run = untrained_run(tmp_path / "run", classes, ("projector",))
    overlay = Overlay(run, classes, "cpu")
    try:
        drawing, alpha = overlay.draw(0, np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1]]))
    finally:
        overlay.close()
    assert overlay.kind == "blender"
    assert drawing.shape == (2, 64, 64) and (alpha > 0).mean() > 0.05
    assert not np.array_equal(alpha[0], alpha[1])  # the angles reach the renderer
