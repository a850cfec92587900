import numpy as np

from diss.grid import MIN_CELL, make_grid


def test_no_image_is_shown_below_its_own_size():
    big, small = np.zeros((256, 256, 3), np.uint8), np.zeros((64, 64), np.uint8)
    grid = make_grid([[small, big]], pad=0)
    assert grid.shape == (256, 512, 3)  # both cells at the largest image's side
    assert make_grid([[small]], pad=0).shape == (MIN_CELL, MIN_CELL, 3)  # a thumbnail is enlarged to MIN_CELL
    assert make_grid([[big]], cell=64, pad=0).shape == (64, 64, 3)  # an explicit cell is honoured


def test_cells_keep_their_images_content():
    a = np.zeros((64, 64, 3), np.uint8)
    a[:, 32:] = 255  # left black, right white
    grid = make_grid([[a]], pad=0)
    assert grid[:, : MIN_CELL // 2].max() == 0 and grid[:, MIN_CELL // 2 :].min() == 255
