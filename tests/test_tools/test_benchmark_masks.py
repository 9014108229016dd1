"""``tools/analysis_tools/benchmark_masks.py`` on a small photo: both mask formats measured on the
same detections, the bitmaps' result N x H x W bytes, the RLE's far less. No test asserts a time
or a memory figure."""
import importlib.util

import pytest
from mmdet_centermask.testing import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    'benchmark_masks', REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark_masks.py')
benchmark_masks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_masks)


def test_rows_of_both_formats_and_a_table(tmp_path, capsys):
    table = tmp_path / 'masks.md'
    rows = benchmark_masks.main(benchmark_masks.parse_args(
        ['--height', '300', '--width', '400', '--num-dets', '6', '--repeats', '1', '--out-md',
         str(table)]))
    assert [row['format'] for row in rows] == ['bitmap', 'rle']
    bitmap, rle = rows
    assert bitmap['result_mb'] == pytest.approx(6 * 300 * 400 / 2**20)
    assert 0 < rle['result_mb'] < bitmap['result_mb'] / 10
    assert all(row['seconds'] > 0 for row in rows)
    text = table.read_text()
    assert '6 masks on a 400x300 photo' in text and '| rle |' in text
    assert text.strip() in capsys.readouterr().out


def test_input_size_is_the_test_pipelines_keep_ratio_resize():
    cfg = benchmark_masks.Config.fromfile(str(benchmark_masks.CONFIG))
    # CenterMask R-50 tests at (1333, 800): a 4000x3000 photo becomes 1067x800
    assert benchmark_masks.input_shape(cfg, 3000, 4000) == (800, 1067)
    assert benchmark_masks.input_shape(cfg, 400, 4000) == (133, 1333)
