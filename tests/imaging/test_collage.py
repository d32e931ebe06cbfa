"""Collage layout and the collage operation."""

from __future__ import annotations

import numpy as np
import pytest

from pixelmill.imaging.ops.collage import CollageParams, collage, layout


@pytest.mark.parametrize(
    ("count", "columns", "rows"),
    [(1, 1, 1), (2, 2, 1), (3, 2, 2), (4, 2, 2), (5, 3, 2), (9, 3, 3), (10, 4, 3), (16, 4, 4)],
)
def test_grid_shape(count: int, columns: int, rows: int) -> None:
    plan = layout([(30, 20)] * count)
    assert (plan.width, plan.height) == (30 * columns, 20 * rows)
    assert plan.corners[-1] == (((count - 1) % columns) * 30, ((count - 1) // columns) * 20)


def test_cells_fit_the_widest_and_tallest() -> None:
    plan = layout([(10, 40), (30, 5), (7, 7)])
    assert (plan.width, plan.height) == (60, 80)
    assert plan.corners == ((0, 0), (30, 0), (0, 40))


def test_collage_places_images_at_cell_corners_on_black() -> None:
    a = np.full((4, 6), 50, np.uint8)
    b = np.zeros((2, 3, 3), np.uint8)
    b[..., 2] = 255
    c = np.full((5, 2, 3), 9, np.uint8)
    out = collage([a, b, c], CollageParams())
    assert out.shape == (10, 12, 3)
    assert np.all(out[0:4, 0:6] == 50)
    assert np.all(out[0:2, 6:9] == [0, 0, 255])
    assert np.all(out[2:5, 6:12] == 0) and np.all(out[0:2, 9:12] == 0)
    assert np.all(out[5:10, 0:2] == 9)
    assert np.all(out[5:10, 2:] == 0)


def test_one_image_needs_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least one"):
        layout([])
