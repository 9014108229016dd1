"""``tools/setup_env.sh`` chooses a stack (OpenMMLab's or OneDL's) and a CPU or a CUDA build
(``MMDET_CENTERMASK_SETUP_PLAN=1`` prints the choice and stops before touching the environment). A GPU machine is imitated by
``nvidia-smi`` and ``nvcc`` scripts that answer as an H200 with CUDA 13.0 does."""
import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

SETUP = Path(__file__).resolve().parents[2] / 'tools' / 'setup_env.sh'
NVIDIA_SMI = '''#!/bin/sh
case "$1" in -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-0)";; *) echo "9.0";; esac
'''
NVCC = '''#!/bin/sh
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Cuda compilation tools, release 13.0, V13.0.48"
'''


def plan(env: Dict[str, str], path_dir: Path) -> subprocess.CompletedProcess:
    """Run the set-up in plan mode with ``path_dir`` first on PATH."""
    clean = {key: value for key, value in os.environ.items()
             if not key.startswith('MMDET_CENTERMASK_')}
    clean.update(env, MMDET_CENTERMASK_SETUP_PLAN='1',
                 PATH=f'{path_dir}{os.pathsep}{os.environ["PATH"]}')
    return subprocess.run(['bash', str(SETUP)], env=clean, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def gpu_machine(tmp_path: Path) -> Path:
    for name, script in (('nvidia-smi', NVIDIA_SMI), ('nvcc', NVCC)):
        (tmp_path / name).write_text(script)
        (tmp_path / name).chmod(0o755)
    return tmp_path


def test_cpu_build_without_a_gpu(tmp_path: Path) -> None:
    result = plan({}, tmp_path)  # nothing on PATH but the machine's own tools
    if 'cu' in result.stdout.split('plan:')[-1].split(';')[0]:
        pytest.skip('this machine has a GPU and nvcc')
    assert result.returncode == 0
    assert ('plan: openmmlab stack, torch 2.13.0, cpu; pins: torch==2.13.0, mmcv==2.1.0; '
            'venv: .venv') in result.stdout


def test_cuda_build_detected_from_nvcc_and_nvidia_smi(gpu_machine: Path) -> None:
    result = plan(dict(MMDET_CENTERMASK_TORCH='2.11.0'), gpu_machine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'plan: openmmlab stack, torch 2.11.0, cu130, sm 9.0; pins: torch==2.11.0' in result.stdout
    forced_cpu = plan(dict(MMDET_CENTERMASK_CUDA='cpu'), gpu_machine)
    assert 'plan: openmmlab stack, torch 2.13.0, cpu;' in forced_cpu.stdout


def test_bad_cuda_settings_are_named(tmp_path: Path) -> None:
    result = plan(dict(MMDET_CENTERMASK_CUDA='cuda12'), tmp_path)
    assert result.returncode == 1 and 'MMDET_CENTERMASK_CUDA=cuda12: expected auto, cpu' in \
        result.stdout
    no_gpu = plan(dict(MMDET_CENTERMASK_CUDA='cu128'), tmp_path)
    if 'plan:' in no_gpu.stdout:
        pytest.skip('this machine has a GPU')
    assert no_gpu.returncode == 1 and 'set MMDET_CENTERMASK_CUDA_ARCH' in no_gpu.stdout
    arch = plan(dict(MMDET_CENTERMASK_CUDA='cu128', MMDET_CENTERMASK_CUDA_ARCH='8.6'), tmp_path)
    assert 'plan: openmmlab stack, torch 2.13.0, cu128, sm 8.6;' in arch.stdout


def test_the_onedl_stack_has_its_own_venv_and_pins(tmp_path: Path, gpu_machine: Path) -> None:
    cpu_machine = tmp_path / 'cpu'  # gpu_machine put its nvidia-smi and nvcc into tmp_path
    cpu_machine.mkdir()
    onedl = plan(dict(MMDET_CENTERMASK_STACK='onedl'), cpu_machine)
    assert ('plan: onedl stack, torch 2.13.0, cpu; pins: torch==2.13.0, onedl-mmcv==2.3.6; '
            'venv: .venv-onedl') in onedl.stdout
    cuda = plan(dict(MMDET_CENTERMASK_STACK='onedl', MMDET_CENTERMASK_TORCH='2.11.0'), gpu_machine)
    assert 'plan: onedl stack, torch 2.11.0, cu130, sm 9.0; pins: torch==2.11.0, onedl-mmcv' \
        in cuda.stdout
    unknown = plan(dict(MMDET_CENTERMASK_STACK='openmmlab2'), cpu_machine)
    assert unknown.returncode == 1
    assert 'MMDET_CENTERMASK_STACK=openmmlab2: expected openmmlab or onedl' in unknown.stdout
