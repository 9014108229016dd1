"""``demo/image_demo.py``'s input listing: a folder's unreadable images are skipped and named, and
an input with nothing to draw is an error that says why (the whole run is in test_run_demo.py)."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmdet_centermask.testing import load_tool

image_demo = load_tool('image_demo', folder='demo')


def write_image(path: Path) -> bytes:
    cv2.imwrite(str(path), np.full((16, 24, 3), 128, np.uint8))
    return path.read_bytes()


def test_folder_keeps_the_readable_images_and_names_the_rest(tmp_path: Path):
    good = write_image(tmp_path / 'b.png')
    write_image(tmp_path / 'a.jpg')
    (tmp_path / 'cut.png').write_bytes(good[:40])  # a truncated PNG: the decoder returns None
    (tmp_path / 'empty.jpg').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('not an image, not listed')
    readable, skipped = image_demo.readable_images(str(tmp_path))
    assert readable == [str(tmp_path / 'a.jpg'), str(tmp_path / 'b.png')]
    assert skipped == [f'{tmp_path / "cut.png"} (not a decodable image)',
                       f'{tmp_path / "empty.jpg"} (empty file)']


def test_nothing_readable_is_an_error_naming_the_input(tmp_path: Path):
    (tmp_path / 'zero.jpg').write_bytes(b'')
    with pytest.raises(ValueError, match=r'no readable image in .*zero\.jpg \(empty file\)'):
        image_demo.readable_images(str(tmp_path / 'zero.jpg'))
    with pytest.raises(ValueError, match='no readable image'):
        image_demo.readable_images(str(tmp_path))
    (tmp_path / 'sub').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        image_demo.readable_images(str(tmp_path / 'sub'))
    with pytest.raises(FileNotFoundError, match='input not found'):
        image_demo.readable_images(str(tmp_path / 'missing'))
