"""The rows as a Markdown table, a bar chart of the stage times and a speed/accuracy scatter plot
(latency on this machine against the published COCO mask AP, as the paper's Figure 1 draws it).

Published numbers come from the metafiles beside the configs (mmdet's in its wheel under
``mmdet/.mim/configs/<group>/metafile.yml``, ours under ``configs/<group>/metafile.yml``).
"""
import math
from pathlib import Path
from typing import List, Optional

import mmdet
import numpy as np
import yaml

from benchmark_stages import STAGE_LABELS, STAGES


def metafile_of(config: str) -> Path:
    """The ``metafile.yml`` beside a config path or a packaged ``mmdet::group/name.py``."""
    if config.startswith('mmdet::'):
        group = Path(config.split('::', 1)[1]).parent
        return Path(mmdet.__file__).parent / '.mim' / 'configs' / group / 'metafile.yml'
    return Path(config).parent / 'metafile.yml'


def published_mask_ap(config: str) -> Optional[float]:
    """The COCO mask AP its metafile publishes for the config, None where it has none."""
    metafile = metafile_of(config)
    if not metafile.is_file():
        return None
    file_name = Path(config.split('::')[-1]).name
    for model in yaml.safe_load(metafile.read_text()).get('Models', []):
        if Path(model.get('Config', '')).name == file_name:
            for result in model.get('Results') or []:
                if result.get('Task') == 'Instance Segmentation':
                    return float(result['Metrics']['mask AP'])
    return None


def ratio(value: float, reference: float) -> str:
    """``value / reference`` formatted, ``-`` when undefined."""
    if not reference or math.isnan(value) or math.isnan(reference):
        return '-'
    return f'{value / reference:.2f}x'


def milliseconds(seconds: float) -> str:
    """Seconds as whole milliseconds, ``-`` when not measured (an exported row's stages)."""
    return '-' if math.isnan(seconds) else f'{seconds * 1e3:.0f}'


def percent(fraction: float) -> str:
    """A fraction as a whole percentage, ``-`` when unknown (FLOPs not counted)."""
    return '-' if math.isnan(fraction) else f'{fraction:.0%}'


def number(value: float) -> str:
    """A whole number, ``-`` when not measured."""
    return '-' if math.isnan(value) else f'{value:.0f}'


def mask_ap(value: Optional[float]) -> str:
    """A published mask AP, ``-`` where none is published."""
    return '-' if value is None else f'{value:.1f}'


def run_settings(row: dict) -> str:
    """Threads, device and speed options of a row, e.g. ``2 threads, cpu, channels-last``."""
    options = dict(fp16='autocast', channels_last='channels-last', fuse_conv_bn='fused conv+BN')
    return ', '.join([f'{row["threads"]} threads', row['device'],
                      *(name for key, name in options.items() if row[key])])


def markdown_table(rows: List[dict], baseline: str) -> str:
    """The rows as a Markdown table with ratios to the baseline row, under a settings line and
    the detection count policy."""
    first = rows[0]
    reference = next(row for row in rows if row['config'] == baseline)
    height, width = first['input_size']
    lines = [
        f'Input {height}x{width}, {first["num_images"]} images (batch 1) after '
        f'{first["warmup"]} warm-up runs, configs taking turns image by image, '
        f'{run_settings(first)}; '
        f'medians (the minimum ratio is the one least disturbed by other load); ratios to '
        f'`{reference["name"]}`.',
        '',
        first['num_dets_policy'] + ' "masks": the instances with a mask in the output.',
        '',
        'COCO mask AP: published (the metafiles), not measured here.',
        '',
        f'Matrix-product peak of this process: {first["peak_gflops_s"]["fp32"]:.0f} GFLOP/s in '
        f'float32, {first["peak_gflops_s"]["bf16"]:.0f} in bfloat16; "of peak" is a model\'s '
        '2 x multiply-adds per median latency over the peak of its precision.',
        '',
        '| config | COCO mask AP | latency ms (min-max) | img/s | backbone+neck ms | '
        'box head ms | mask branch ms | masks | peak mem MB | params M | GFLOPs | of peak | '
        'latency ratio | min latency ratio | GFLOPs ratio |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        lines.append(
            f'| {row["name"]} | {mask_ap(row["published_mask_ap"])} | '
            f'{row["latency_s_median"] * 1e3:.0f} '
            f'({row["latency_s_min"] * 1e3:.0f}-{row["latency_s_max"] * 1e3:.0f}) | '
            f'{row["images_per_s"]:.2f} | {milliseconds(row["backbone_neck_s_median"])} | '
            f'{milliseconds(row["box_head_s_median"])} | '
            f'{milliseconds(row["mask_branch_s_median"])} | '
            f'{row["num_masks"]:g} | {number(row["peak_mem_mb"])} | '
            f'{row["params_m"]:.1f} | {row["gflops"]:.1f} | '
            f'{percent(row["peak_fraction"])} ({row["peak_precision"]}) | '
            f'{ratio(row["latency_s_median"], reference["latency_s_median"])} | '
            f'{ratio(row["latency_s_min"], reference["latency_s_min"])} | '
            f'{ratio(row["gflops"], reference["gflops"])} |')
    return '\n'.join(lines) + '\n'


def plot_stages(rows: List[dict], path: str) -> None:
    """A horizontal bar per config of its stacked median stage times (ms), saved with Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 1.6 + 0.6 * len(rows)), layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [row['name'] for row in rows][::-1]
    left = np.zeros(len(rows))
    for stage in STAGES:
        widths = np.nan_to_num(np.array([row[f'{stage}_s_median'] * 1e3 for row in rows][::-1]))
        axes.barh(names, widths, left=left, label=STAGE_LABELS[stage])
        left += widths
    exported = np.array([row['latency_s_median'] * 1e3 if 'backend' in row else 0.0
                         for row in rows][::-1])
    if exported.any():
        axes.barh(names, exported, left=left, label='exported graph, end to end', hatch='//')
    first = rows[0]
    height, width = first['input_size']
    detections = (f'{first["num_dets"]} fixed detections' if first['num_dets']
                  else 'own detections')
    axes.set_xlabel('median time per image (ms)')
    figure.suptitle(f'{height}x{width} input, '
                    f'{run_settings(first)}; '
                    f'{detections} to the mask branches',
                    fontsize='medium')
    figure.legend(loc='outside lower center', ncols=len(STAGES) + 1)
    figure.savefig(path, dpi=100)




def plot_speed_accuracy(rows: List[dict], path: str) -> None:
    """Median latency on this machine against the published COCO mask AP, one labelled point per
    row with a published number (exported rows as triangles named by their engine, joined to
    their eager row by a dotted line; latency on a log scale), saved with Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [row for row in rows if row['published_mask_ap'] is not None]
    if not rows:
        raise ValueError('no row has a published mask AP to plot (see the metafiles)')
    figure = Figure(figsize=(9, 6), layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for exported, marker, label in ((False, 'o', 'PyTorch, eager'),
                                    (True, '^', 'exported (ONNX)')):
        points = [row for row in rows if ('backend' in row) == exported]
        if not points:
            continue
        latencies = [row['latency_s_median'] * 1e3 for row in points]
        aps = [row['published_mask_ap'] for row in points]
        axes.scatter(latencies, aps, marker=marker, s=60, label=label)
        for row, latency, ap in zip(points, latencies, aps):  # exported: named by engine
            axes.annotate(row.get('backend', row['name']), (latency, ap),
                          textcoords='offset points', xytext=(4, 5 if exported else -10),
                          fontsize='x-small', rotation=20 if exported else 0)
    for config in dict.fromkeys(row['config'] for row in rows):  # a model's eager and exported
        same = sorted((row['latency_s_median'] * 1e3, row['published_mask_ap'])
                      for row in rows if row['config'] == config)
        if len(same) > 1:
            axes.plot(*zip(*same), linestyle=':', color='grey', linewidth=1)
    first = rows[0]
    height, width = first['input_size']
    axes.set_xlabel(f'median inference time per image (ms), {height}x{width}, '
                    f'{run_settings(first)}')
    axes.set_xscale('log')
    axes.set_ylabel('COCO mask AP (published)')
    axes.grid(alpha=0.3)
    axes.legend(loc='center right')
    figure.savefig(path, dpi=100)
