"""``tools/analysis_tools/benchmark.py`` on a tiny input (128x160, R-50 models, one thread).

The tool runs as a subprocess (it sets the thread count and the logger level of its process);
its parts run in-process on the same models. No test asserts a time.
"""
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmdet_centermask.testing import ToolRun
from torch import nn

from mmdet.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
CENTERMASK = str(ROOT / 'configs' / 'centermask' / 'centermask_r50_fpn_1x_coco.py')
MASK_RCNN = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
FCOS = 'mmdet::fcos/fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou_1x_coco.py'
INPUT_SIZE = (128, 160)
NUM_DETS = 5
TINY = ['--input-size', *map(str, INPUT_SIZE), '--threads', '1']
ROW_KEYS = {
    'config', 'latency_s_median', 'latency_s_min', 'latency_s_max', 'images_per_s',
    'backbone_neck_s_median', 'box_head_s_median', 'mask_branch_s_median', 'peak_mem_mb',
    'params_m', 'gflops', 'input_size', 'num_dets', 'threads', 'device', 'num_images',
    'achieved_gflops_s', 'peak_fraction', 'peak_precision', 'peak_gflops_s',
    'num_dets_policy', 'box_head_num_dets', 'mask_branch_num_rois', 'flops_error'
}


def load_tool() -> ModuleType:
    """Import ``tools/analysis_tools/benchmark.py`` (and the modules beside it) as a module."""
    sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
    return importlib.import_module('benchmark')


benchmark = load_tool()
benchmark_inputs = importlib.import_module('benchmark_inputs')
benchmark_measures = importlib.import_module('benchmark_measures')
benchmark_report = importlib.import_module('benchmark_report')
benchmark_stages = importlib.import_module('benchmark_stages')
benchmark_training = importlib.import_module('benchmark_training')


def build(config: str) -> nn.Module:
    """The tool's model of ``config``: random weights (seed 0), eval mode, CPU."""
    return benchmark_inputs.build_model(benchmark_inputs.load_config(config), None, 'cpu', seed=0)


LITE = str(ROOT / 'configs' / 'centermask' / 'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py')
RTMDET_INS = 'mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py'
# the tool's runs of this module: its arguments (besides ``--out-json rows.json``)
BENCHMARK_RUNS = {
    # CenterMask, Mask R-CNN and FCOS with 5 fixed detections, ratios to Mask R-CNN
    'fp32': [CENTERMASK, MASK_RCNN, FCOS, *TINY, '--num-images', '2', '--warmup', '1',
             '--num-dets', str(NUM_DETS), '--baseline', MASK_RCNN, '--out-md', 'table.md',
             '--out-png', 'stages.png'],
    # --fp16 (CPU bfloat16) with --num-dets 0 and a checkpoint that detects (see its test)
    'fp16': [CENTERMASK, MASK_RCNN, *TINY, '--num-images', '1', '--warmup', '0', '--fp16',
             '--channels-last', '--fuse-conv-bn', '--num-dets', '0', '--checkpoint',
             'detecting.pth', 'none', '--out-md', 'table.md'],
    'exported': [LITE, *TINY, '--num-images', '1', '--warmup', '1', '--num-dets', str(NUM_DETS),
                 '--backend', 'pytorch', 'onnxruntime', 'openvino-int8', '--out-md', 'table.md',
                 '--out-png', 'stages.png'],
    # 120x150 is padded to 128x160: the ground-truth masks must be padded alike
    'train': [LITE, RTMDET_INS, '--train', '--input-size', '120', '150', '--threads', '1',
              '--num-images', '2', '--warmup', '0', '--num-dets', '3', '--baseline', RTMDET_INS,
              '--out-md', 'table.md'],
}


@pytest.fixture(scope='module')
def benchmark_runs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Tuple[Path, ToolRun]]:
    """Each of :data:`BENCHMARK_RUNS` in a folder of its own, all started side by side (one thread
    each; no test asserts a time). ``fp16``'s CenterMask checkpoint has a classification bias that
    makes every location a detection (50 after NMS); random weights detect nothing."""
    runs = {}
    for name, args in BENCHMARK_RUNS.items():
        work_dir = tmp_path_factory.mktemp(f'benchmark_{name}')
        if name == 'fp16':
            model = build(CENTERMASK)
            model.bbox_head.conv_cls.bias.data.fill_(3.0)
            torch.save(dict(state_dict=model.state_dict()), work_dir / 'detecting.pth')
        command = [sys.executable, str(ROOT / 'tools' / 'analysis_tools' / 'benchmark.py'), *args,
                   '--out-json', 'rows.json']
        runs[name] = work_dir, ToolRun(command, cwd=work_dir)
    return runs


def benchmark_rows(benchmark_runs: Dict[str, Tuple[Path, ToolRun]], name: str) -> List[Dict]:
    """The rows of run ``name`` once it has ended."""
    work_dir, run = benchmark_runs[name]
    run.output()
    return json.loads((work_dir / 'rows.json').read_text())


@pytest.fixture(scope='module')
def fp32_run(benchmark_runs: Dict[str, Tuple[Path, ToolRun]]) -> Path:
    """The folder of the fp32 run, once it has ended."""
    benchmark_rows(benchmark_runs, 'fp32')
    return benchmark_runs['fp32'][0]


@pytest.mark.e2e  # the tool in a subprocess
def test_rows_have_every_measurement(fp32_run: Path) -> None:
    rows = json.loads((fp32_run / 'rows.json').read_text())
    assert [row['config'] for row in rows] == [CENTERMASK, MASK_RCNN, FCOS]
    assert [row['model'] for row in rows] == ['CenterMask', 'MaskRCNN', 'FCOS']
    for row in rows:
        assert ROW_KEYS <= row.keys()
        assert row['input_size'] == list(INPUT_SIZE)
        assert (row['num_images'], row['threads'], row['device'], row['num_dets']) == \
            (2, 1, 'cpu', NUM_DETS)
        assert len(row['latencies_s']) == 2
        assert 0 < row['latency_s_min'] <= row['latency_s_median'] <= row['latency_s_max']
        assert row['images_per_s'] > 0
        assert row['backbone_neck_s_median'] > 0 and row['box_head_s_median'] > 0
        assert row['params_m'] > 10 and row['gflops'] > 0 and row['flops_error'] is None
        assert row['gflops_backbone_neck'] > 0 and row['gflops_box_head'] > 0
        assert math.isfinite(row['peak_mem_mb']) and row['peak_mem_mb'] >= 0
        assert f'same {NUM_DETS} fixed boxes' in row['num_dets_policy']
    centermask, mask_rcnn, fcos = rows
    for row in (centermask, mask_rcnn):  # the mask branch received exactly K boxes
        assert row['mask_branch_num_rois'] == NUM_DETS
        assert row['mask_branch_s_median'] > 0 and row['gflops_mask_branch'] > 0
    assert fcos['mask_branch_num_rois'] == 0
    assert fcos['mask_branch_s_median'] == 0 and fcos['gflops_mask_branch'] == 0
    # CenterMask's FCOS box head is mmdet's FCOS head: the same FLOPs on the same input
    assert centermask['gflops_box_head'] == pytest.approx(fcos['gflops_box_head'], rel=1e-3)


@pytest.mark.e2e  # the tool in a subprocess
def test_markdown_table_and_chart(fp32_run: Path) -> None:
    table = (fp32_run / 'table.md').read_text()
    rows = [line for line in table.splitlines() if line.startswith('| ')]
    header, *body = rows
    assert 'latency ratio' in header
    assert [row.split(' | ')[0] for row in body] == [
        '| centermask_r50_fpn_1x_coco', '| mask-rcnn_r50_fpn_1x_coco',
        '| fcos_r50-caffe_fpn_gn-head-center-normbbox-centeronreg-giou_1x_coco']
    assert body[1].endswith('| 1.00x | 1.00x | 1.00x |')  # --baseline: Mask R-CNN
    assert f'same {NUM_DETS} fixed boxes' in table
    assert 'Matrix-product peak of this process:' in table and ' (fp32) | ' in body[0]
    assert (fp32_run / 'stages.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.e2e  # the tool in a subprocess
def test_fp16_checkpoint_and_own_detections(
        benchmark_runs: Dict[str, Tuple[Path, ToolRun]]) -> None:
    """``--fp16`` (CPU bfloat16) with ``--num-dets 0``: each mask branch gets its own box head's
    detections (the checkpoint detects everywhere, random weights nothing)."""
    rows = benchmark_rows(benchmark_runs, 'fp16')
    centermask, mask_rcnn = rows
    assert [(row['fp16'], row['channels_last'], row['fuse_conv_bn'], row['num_images'])
            for row in rows] == [(True, True, True, 1), (True, True, True, 1)]
    assert '1 threads, cpu, autocast, channels-last, fused conv+BN;' in (
        benchmark_runs['fp16'][0] / 'table.md').read_text()
    assert [row['checkpoint'] for row in rows] == ['detecting.pth', None]
    assert centermask['box_head_num_dets'] == centermask['mask_branch_num_rois'] == 50
    assert mask_rcnn['box_head_num_dets'] == mask_rcnn['mask_branch_num_rois'] == 0
    assert 'own box head' in centermask['num_dets_policy']


def tiny_batch(model: nn.Module) -> tuple:
    """The tool's first random image through the model's preprocessor."""
    image, = benchmark_inputs.random_images(1, INPUT_SIZE, seed=0)
    return benchmark_inputs.preprocess(model, image)


@pytest.mark.slow  # a whole zoo model in-process
@pytest.mark.parametrize('config,test_cfg', [
    (CENTERMASK, dict(bbox=dict(score_thr=0.0, nms_pre=100, max_per_img=10))),
    (MASK_RCNN, dict(rpn=dict(nms_pre=100, max_per_img=20), rcnn=dict(score_thr=0.0,
                                                                      max_per_img=10))),
])
def test_stages_reproduce_predict(config: str, test_cfg: dict) -> None:
    """Without fixed boxes the staged run is the detector's ``predict``, output for output
    (score threshold 0, so that random weights detect; few detections, to be quick)."""
    cfg = benchmark_inputs.load_config(config)
    cfg.merge_from_dict(dict(model=dict(test_cfg=test_cfg)))
    model = benchmark_inputs.build_model(cfg, None, 'cpu', seed=0)
    inputs, samples = tiny_batch(model)
    staged = benchmark_stages.StagedDetector(model, synchronize=lambda: None)
    with torch.inference_mode():
        expected = model.predict(inputs, samples, rescale=True)[0].pred_instances
        predicted, box_results, record = staged(inputs, samples, detections=None)
    actual = predicted[0].pred_instances
    assert len(expected) == record.mask_branch_num_rois == 10
    assert set(actual.keys()) == set(expected.keys())
    for key in expected.keys():
        assert torch.equal(actual[key], expected[key]), key
    assert record.stage_s.keys() == set(benchmark_stages.STAGES)

    fixed = benchmark_inputs.fixed_detections(NUM_DETS, INPUT_SIZE, 80, seed=0)
    with torch.inference_mode():
        predicted, _, record = staged(
            inputs, samples, detections=[benchmark_inputs.copy_detections(fixed, 'cpu')])
    actual = predicted[0].pred_instances
    assert record.mask_branch_num_rois == NUM_DETS
    assert torch.equal(actual.labels, fixed.labels)
    assert torch.equal(actual.bboxes, fixed.bboxes)  # scale factor 1
    assert actual.masks.shape == (NUM_DETS, *INPUT_SIZE)


@pytest.mark.slow  # a whole zoo model in-process
@pytest.mark.parametrize('option', ['--channels-last', '--fuse-conv-bn'])
def test_speed_options_predict_what_the_plain_model_predicts(option: str, tmp_path: Path) -> None:
    """``--channels-last`` and ``--fuse-conv-bn`` change how the convolutions run, not what they
    compute: CenterMask-Lite (depthwise convolutions, a BN after every backbone convolution),
    with BN statistics far from the identity, gives the same boxes, scores and masks."""
    config = tmp_path / 'lite.py'
    config.write_text(
        f"_base_ = '{ROOT}/configs/centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'\n"
        # random weights give many zero-size boxes, which the final clip drops: filter them first
        'model = dict(test_cfg=dict(bbox=dict(score_thr=0.0, max_per_img=10, min_bbox_size=0)))\n')
    model = build(str(config))
    for norm in (module for module in model.modules() if isinstance(module, nn.BatchNorm2d)):
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'lite.pth')
    images = benchmark_inputs.random_images(1, INPUT_SIZE, seed=0)
    runs = [
        benchmark.ConfigBenchmark(
            str(config), str(tmp_path / 'lite.pth'), images,
            benchmark.parse_args([str(config), *TINY, '--out-json', 'unused', *options]))
        for options in ([], [option])
    ]
    with torch.inference_mode():
        expected, actual = (run.staged(*run.batches[0], detections=None)[0][0].pred_instances
                            for run in runs)
    if option == '--channels-last':
        assert all(param.is_contiguous(memory_format=torch.channels_last)
                   for param in runs[1].model.parameters() if param.dim() == 4)
    else:
        assert not any(isinstance(module, nn.BatchNorm2d) for module in runs[1].model.modules())
        assert sum(isinstance(module, nn.BatchNorm2d) for module in runs[0].model.modules()) == 22
    assert runs[1].params_m == runs[0].params_m  # the model's size, counted before fusing
    assert len(expected) == len(actual) >= 5
    torch.testing.assert_close(actual.bboxes, expected.bboxes, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(actual.scores, expected.scores, rtol=1e-4, atol=1e-5)
    assert torch.equal(actual.labels, expected.labels)
    assert (actual.masks != expected.masks).float().mean() < 1e-3


def test_fixed_detections_are_valid_and_shared() -> None:
    fixed = benchmark_inputs.fixed_detections(50, (800, 1216), 80, seed=0)
    again = benchmark_inputs.fixed_detections(50, (800, 1216), 80, seed=0)
    assert all(torch.equal(fixed[key], again[key]) for key in fixed.keys())
    x1, y1, x2, y2 = fixed.bboxes.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 1216).all() and (y2 <= 800).all()
    sides = ((x2 - x1) * (y2 - y1)).sqrt()
    assert sides.min() < 64 and sides.max() > 256  # small to large: every FPN level
    assert torch.equal(fixed.labels, torch.arange(50) % 80)
    assert (fixed.scores.diff() < 0).all()


def test_detector_family() -> None:
    families = {}
    for config in (CENTERMASK, MASK_RCNN, FCOS):
        cfg = benchmark_inputs.load_config(config)
        model = MODELS.build(cfg.model)
        families[type(model).__name__] = benchmark_stages.detector_family(model)
    assert families == {'CenterMask': 'single-stage + mask branch', 'MaskRCNN': 'two-stage',
                        'FCOS': 'single-stage'}
    with pytest.raises(TypeError, match='not supported'):
        benchmark_stages.detector_family(nn.Linear(1, 1))


def test_drop_pretrained_init() -> None:
    cfg = benchmark_inputs.load_config(MASK_RCNN)
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    benchmark_inputs.drop_pretrained_init(cfg.model)
    assert cfg.model.backbone.init_cfg is None
    node = dict(init_cfg=[dict(type='Pretrained', checkpoint='x'), dict(type='Normal')],
                child=[dict(init_cfg=dict(type='Pretrained', checkpoint='y'))])
    benchmark_inputs.drop_pretrained_init(node)
    assert node == dict(init_cfg=[dict(type='Normal')], child=[dict(init_cfg=None)])


def test_flops_of_a_vovnet_model_count_every_stage() -> None:
    """The tracer's scope names are module paths joined with ``/``: VoVNet's module names have
    none (``stem_1_conv``), so FLOPs count by module."""
    cfg = benchmark_inputs.load_config(
        str(ROOT / 'configs' / 'centermask' / 'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'))
    model = benchmark_inputs.build_model(cfg, None, 'cpu', seed=0)
    names = [name for name, _ in model.named_modules()]
    assert 'backbone.stem.stem_1_conv' in names and not any('/' in name for name in names)
    staged = benchmark_stages.StagedDetector(model, synchronize=lambda: None)
    inputs, samples = tiny_batch(model)
    fixed = benchmark_inputs.fixed_detections(NUM_DETS, INPUT_SIZE, 80, seed=0)
    flops = benchmark_stages.count_gflops(
        benchmark_stages.BenchmarkedInference(staged, samples,
                                       lambda: [benchmark_inputs.copy_detections(fixed, 'cpu')]),
        inputs)
    assert flops['flops_error'] is None
    assert all(flops[f'gflops_{part}'] > 0 for part in benchmark_stages.STAGES)
    assert [name for name, _ in model.named_modules()] == names


def test_flops_failure_is_reported_not_raised() -> None:

    class Untraceable(nn.Module):

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            raise RuntimeError('cannot trace this')

    flops = benchmark_stages.count_gflops(Untraceable(), torch.zeros(1))
    assert math.isnan(flops['gflops']) and math.isnan(flops['gflops_mask_branch'])
    assert 'cannot trace this' in flops['flops_error']


@pytest.mark.skipif(not Path('/proc/self/clear_refs').exists(), reason='Linux /proc only')
def test_cpu_peak_memory_sees_a_freed_allocation() -> None:
    before = benchmark_measures.reset_peak_memory('cpu')
    block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
    del block
    assert benchmark_measures.peak_memory('cpu') - before >= 60


def test_parse_args_rejects_inconsistent_options() -> None:
    with pytest.raises(SystemExit):
        benchmark.parse_args([CENTERMASK, FCOS, '--out-json', 'x', '--checkpoint', 'a.pth'])
    with pytest.raises(SystemExit):
        benchmark.parse_args([CENTERMASK, '--out-json', 'x', '--baseline', FCOS])
    args = benchmark.parse_args([CENTERMASK, '--out-json', 'x'])
    assert (args.num_dets, args.input_size, args.device, args.fp16) == (50, [800, 1216], 'cpu',
                                                                        False)


@pytest.mark.e2e  # the tool in a subprocess
def test_exported_backends_add_rows_of_the_same_model(
        benchmark_runs: Dict[str, Tuple[Path, ToolRun]]) -> None:
    """``--backend``: the CenterMask config exported to ONNX with the same random weights, run by
    onnxruntime and (quantized by NNCF on the benchmark's images) OpenVINO int8, pasting the
    masks of the same fixed detections; one graph, so no stage split."""
    lite = Path(LITE).stem
    rows = benchmark_rows(benchmark_runs, 'exported')
    assert [row['name'] for row in rows] == [lite, f'{lite} [onnxruntime]',
                                             f'{lite} [openvino-int8]']
    assert rows[2]['peak_precision'] == 'int8' and math.isnan(rows[2]['peak_fraction'])
    for row in rows[1:]:
        assert ROW_KEYS <= row.keys()
        assert row['latency_s_median'] > 0 and row['box_head_num_dets'] == NUM_DETS
        assert all(math.isnan(row[f'{stage}_s_median']) for stage in benchmark_stages.STAGES)
        assert (row['gflops'], row['params_m']) == (rows[0]['gflops'], rows[0]['params_m'])
    work_dir = benchmark_runs['exported'][0]
    table = (work_dir / 'table.md').read_text()
    assert f'| {lite} [onnxruntime] |' in table and '| - | - | - |' in table
    assert (work_dir / 'stages.png').stat().st_size > 0


def test_peak_fraction_is_twice_the_multiply_adds_per_latency_over_the_peak() -> None:
    assert benchmark_measures.matmul_peak_gflops(torch.float32, 'cpu', size=256, repeats=2) > 0
    peaks = dict(fp32=100.0, bf16=400.0)
    row = dict(gflops=5.0, latency_s_median=0.5, fp16=False, device='cpu')
    benchmark_measures.add_peak_fraction(row, peaks)
    assert (row['achieved_gflops_s'], row['peak_precision'], row['peak_fraction']) == (
        20.0, 'fp32', 0.2)
    row.update(backend='openvino-bf16')
    benchmark_measures.add_peak_fraction(row, peaks)
    assert (row['peak_precision'], row['peak_fraction']) == ('bf16', 0.05)
    row.update(backend='openvino-int8')  # no int8 peak is measured
    benchmark_measures.add_peak_fraction(row, peaks)
    assert row['peak_precision'] == 'int8' and math.isnan(row['peak_fraction'])


YOLACT = 'mmdet::yolact/yolact_r50_1xb8-55e_coco.py'
SOLOV2 = 'mmdet::solov2/solov2-light_r18_fpn_ms-3x_coco.py'


@pytest.mark.slow  # a whole zoo model in-process
@pytest.mark.parametrize('config,family', [
    (RTMDET_INS, 'single-stage, masks in the box head'),
    (YOLACT, 'instance segmentor'),
    (SOLOV2, 'instance segmentor'),
])
def test_peers_predict_their_own_num_dets_masks(config: str, family: str) -> None:
    """The real-time peers cannot take fixed boxes: with their thresholds opened they predict
    exactly K masks from random weights, and the staged run is their ``predict``."""
    model = build(config)
    staged = benchmark_stages.StagedDetector(model, synchronize=lambda: None)
    assert staged.family == family and staged.with_mask and not staged.takes_fixed_boxes
    inputs, samples = tiny_batch(model)
    with torch.inference_mode():
        assert len(model.predict(inputs, samples)[0].pred_instances) != NUM_DETS  # as configured
    benchmark_inputs.detect_own_instances(model, NUM_DETS)
    with torch.inference_mode():
        expected = model.predict(inputs, samples, rescale=True)[0].pred_instances
        predicted, _, record = staged(inputs, samples, detections=None)
    actual = predicted[0].pred_instances
    assert len(expected) == record.num_masks == NUM_DETS and record.mask_branch_num_rois == 0
    assert actual.masks.shape == (NUM_DETS, *INPUT_SIZE)
    for key in expected.keys():
        assert torch.equal(actual[key], expected[key]), key
    if config == SOLOV2:  # no box head: all of the heads' time is the mask branch's
        assert record.stage_s['box_head'] == 0 and record.stage_s['mask_branch'] > 0
    with pytest.raises(ValueError, match='cannot take fixed boxes'):
        staged(inputs, samples, detections=[benchmark_inputs.fixed_detections(
            NUM_DETS, INPUT_SIZE, 80, seed=0)])


def test_published_mask_ap_comes_from_the_metafile_beside_the_config() -> None:
    lite = ROOT / 'configs' / 'centermask' / 'centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
    assert benchmark_report.published_mask_ap(str(lite)) == 27.1  # centermask2's zoo
    assert benchmark_report.published_mask_ap(YOLACT) == 29.0  # mmdet's YOLACT README
    assert benchmark_report.published_mask_ap(RTMDET_INS) == 35.4  # mmdet's RTMDet README
    assert benchmark_report.published_mask_ap(FCOS) is None  # a detector: no mask AP
    demo = ROOT / 'configs' / 'centermask' / 'demo'
    assert benchmark_report.published_mask_ap(str(next(demo.glob('*.py')))) is None


def test_speed_accuracy_scatter(tmp_path: Path) -> None:
    rows = [dict(config='a.py', name='a', published_mask_ap=30.0, latency_s_median=0.2,
                 input_size=[64, 96], threads=2, device='cpu', fp16=False, channels_last=False,
                 fuse_conv_bn=False),
            dict(config='b.py', name='b', published_mask_ap=None, latency_s_median=0.1)]
    rows.append(dict(rows[0], name='a [onnxruntime]', backend='onnxruntime'))
    benchmark_report.plot_speed_accuracy(rows, str(tmp_path / 'scatter.png'))
    assert (tmp_path / 'scatter.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(ValueError, match='no row has a published mask AP'):
        benchmark_report.plot_speed_accuracy(rows[1:2], str(tmp_path / 'none.png'))


def test_elliptical_ground_truth_masks() -> None:
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0], [0.0, 0.0, 96.0, 64.0]])
    masks = benchmark_training.elliptical_masks(boxes, 64, 96).masks
    areas = masks.sum((1, 2))
    np.testing.assert_allclose(areas, [np.pi / 4 * 40 * 20, np.pi / 4 * 96 * 64], rtol=0.03)
    rows, cols = np.nonzero(masks[0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 39, 10, 49)


@pytest.mark.e2e  # the tool in a subprocess
def test_training_mode_steps_every_config(
        benchmark_runs: Dict[str, Tuple[Path, ToolRun]]) -> None:
    """``--train``: each config trains on the same batch with its own optimiser; the table has
    seconds per iteration and ratios, the losses are finite."""
    rows = benchmark_rows(benchmark_runs, 'train')
    assert [(row['model'], row['mode'], row['batch_size'], row['num_gts']) for row in rows] == [
        ('CenterMask', 'train', 2, 3), ('RTMDet', 'train', 2, 3)]
    for row in rows:
        assert len(row['iterations_s']) == 2 and row['iteration_s_min'] > 0
        assert all(math.isfinite(loss) and loss > 0 for loss in row['losses'])
        assert row['peak_mem_mb'] > 0
    table = (benchmark_runs['train'][0] / 'table.md').read_text()
    assert 'batch 2 of random images with 3 objects each' in table
    assert table.splitlines()[-1].endswith('| 1.00x | 1.00x | 1.00x |')


@pytest.mark.slow  # a whole zoo model in-process
def test_a_training_step_changes_the_weights() -> None:
    args = benchmark.parse_args([LITE, '--train', '--input-size', '64', '96', '--num-dets', '2',
                                 '--out-json', 'unused'])
    images = benchmark_inputs.random_images(2, (64, 96), seed=0)
    run = benchmark_training.TrainingBenchmark(LITE, images, args)
    before = {name: param.detach().clone() for name, param in run.model.named_parameters()
              if param.requires_grad}
    run.run(timed=True)
    after = dict(run.model.named_parameters())
    assert all(not torch.equal(after[name], value) for name, value in before.items()
               if name.startswith(('bbox_head.conv_cls', 'roi_head.mask_head.conv_logits')))
    base_lr = benchmark_inputs.load_config(LITE).optim_wrapper.optimizer.lr
    assert run.optim_wrapper.optimizer.param_groups[0]['lr'] == pytest.approx(base_lr * 0.001)
    assert run.row()['num_iters'] == 1 and len(run.losses) == 1


def test_training_starts_at_the_warmup_learning_rate() -> None:
    """The first iteration's rate, as the runner applies it (random weights diverge at 1x)."""
    mask_rcnn = benchmark_inputs.load_config(MASK_RCNN)
    assert benchmark_training.warmup_start_factor(mask_rcnn) == 0.001  # mmdet's schedule_1x
    rtmdet = benchmark_inputs.load_config(RTMDET_INS)
    assert benchmark_training.warmup_start_factor(rtmdet) == 1e-5
    no_warmup = dict(param_scheduler=[dict(type='MultiStepLR', by_epoch=True, milestones=[8])])
    assert benchmark_training.warmup_start_factor(no_warmup) == 1.0


def test_training_refuses_inference_only_options() -> None:
    args = benchmark.parse_args([CENTERMASK, '--train', '--fp16', '--out-json', 'unused'])
    with pytest.raises(SystemExit, match='--train runs the configs as they train'):
        benchmark_training.train_main(args)
