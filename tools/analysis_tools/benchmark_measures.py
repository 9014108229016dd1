"""What the machine gives and what a run takes: the matrix-product peak and each row's fraction of
it, and peak memory (the RSS high-water mark on CPU, reset per run; the allocated peak on CUDA).
"""
import ctypes
import gc
import re
import time
from pathlib import Path
from typing import Dict

import torch


def matmul_peak_gflops(dtype: torch.dtype, device: str, size: int = 2048,
                       repeats: int = 5) -> float:
    """The machine's matrix-product throughput in this process and thread count, GFLOP/s (two
    FLOPs per multiply-add): the best of ``repeats`` products of two ``size`` x ``size``
    matrices after one warm-up product."""
    synchronize = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    best = float('inf')
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        a @ b
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def add_peak_fraction(row: dict, peaks: Dict[str, float]) -> None:
    """The row's achieved GFLOP/s (2 x its multiply-adds per median latency; mmengine counts a
    multiply-add as one FLOP) and its fraction of the matrix-product peak of its precision
    (bfloat16 for ``--fp16`` on CPU and the ``openvino-bf16`` backend; none measured for
    ``openvino-int8``: NaN)."""
    bf16 = row.get('backend') == 'openvino-bf16' or (row['fp16'] and row['device'] == 'cpu')
    precision = 'int8' if row.get('backend') == 'openvino-int8' else 'bf16' if bf16 else 'fp32'
    row['achieved_gflops_s'] = 2 * row['gflops'] / row['latency_s_median']
    row['peak_precision'] = precision
    row['peak_fraction'] = row['achieved_gflops_s'] / peaks.get(precision, float('nan'))


def read_proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (e.g. ``VmRSS``, ``VmHWM``)."""
    status = Path('/proc/self/status').read_text()
    return int(re.search(rf'^{field}:\s+(\d+) kB', status, re.MULTILINE).group(1))


def reset_peak_memory(device: str) -> float:
    """Reset the peak memory counter; return the current memory (MB), NaN if unavailable.

    On CPU, freed heap memory is first handed back to the OS (glibc's ``malloc_trim``): pages
    that stay resident after earlier models would otherwise serve this model's allocations
    without raising the RSS.
    """
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    gc.collect()
    libc = ctypes.CDLL(None)
    if hasattr(libc, 'malloc_trim'):
        libc.malloc_trim(0)
    try:
        Path('/proc/self/clear_refs').write_text('5')  # 5: reset the RSS high-water mark
        return read_proc_status_kb('VmRSS') / 1024
    except OSError:
        return float('nan')


def peak_memory(device: str) -> float:
    """Peak memory (MB) since :func:`reset_peak_memory`: allocated on CUDA, RSS on CPU (NaN
    without ``/proc``)."""
    if device == 'cuda':
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        return read_proc_status_kb('VmHWM') / 1024
    except OSError:
        return float('nan')


