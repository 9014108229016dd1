#!/usr/bin/env bash
# Set up (idempotently) a virtual environment with one of the two MMDetection stacks:
#   openmmlab (the default, .venv): torch 2.13.0 (CPU) -> mmcv 2.1.0 built WITH its compiled ops
#     -> mmengine 0.10.7, mmdet 3.3.0 (OpenMMLab's last releases);
#   onedl (.venv-onedl): torch 2.13.0 (CPU) -> onedl-mmcv 2.3.6 built with its ops ->
#     onedl-mmengine 0.10.12, onedl-mmdetection 3.5.1 (VBTI's maintained forks, same imports);
# then pycocotools, this package (editable, with the test, deploy, serve, analysis and mim extras),
# openmim and panopticapi-lite. The mmcv wheel is cached outside the repo, keyed by stack, torch,
# Python and CUDA build. A second run on a set-up machine compares a stamp and returns at once.
# Both stacks build mmcv with -std=c++17, which torch 2.14's headers (C++20) refuse: torch 2.13.
#
# Environment: MMDET_CENTERMASK_STACK (openmmlab, the default, or onedl),
#              PYTHON (interpreter to create the venv with, default python3.11 or python3),
#              MMDET_CENTERMASK_CACHE (wheel cache, default ~/.cache/mmdet-centermask),
#              MMDET_CENTERMASK_CUDA (auto, the default: a CUDA build where a GPU and nvcc are
#                present; cpu; or a PyTorch wheel tag such as cu128 or cu130),
#              MMDET_CENTERMASK_TORCH (the torch version of a CUDA build, default 2.13.0),
#              MMDET_CENTERMASK_CUDA_ARCH (the GPU architecture mmcv's CUDA ops are built for,
#                e.g. 9.0; default: what nvidia-smi reports),
#              MMDET_CENTERMASK_SETUP_PLAN=1 (print the chosen build and stop).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION=2.13.0
PANOPTICAPI=panopticapi-lite==0.2.0
OPENMIM=openmim==0.3.9
CACHE="${MMDET_CENTERMASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdet-centermask}"

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

STACK="${MMDET_CENTERMASK_STACK:-openmmlab}"
case "$STACK" in
    openmmlab) VENV="$ROOT/.venv"; MMCV_DIST=mmcv; CONSTRAINTS="$ROOT/tools/constraints.txt" ;;
    onedl) VENV="$ROOT/.venv-onedl"; MMCV_DIST=onedl-mmcv
           CONSTRAINTS="$ROOT/tools/constraints-onedl.txt" ;;
    *) say "MMDET_CENTERMASK_STACK=$STACK: expected openmmlab or onedl"; exit 1 ;;
esac
PY="$VENV/bin/python"
MMCV_VERSION="$(sed -n "s/^$MMCV_DIST==//p" "$CONSTRAINTS")"

# CPU or CUDA: CUDA_TAG is cpu or a PyTorch wheel tag (cuXYZ from nvcc's release X.YZ),
# CUDA_ARCH the compute capability of the first GPU (mmcv's TORCH_CUDA_ARCH_LIST).
CUDA_TAG="${MMDET_CENTERMASK_CUDA:-auto}"
CUDA_ARCH="${MMDET_CENTERMASK_CUDA_ARCH:-}"
if [[ "$CUDA_TAG" == auto ]]; then
    CUDA_TAG=cpu
    if command -v nvidia-smi >/dev/null && command -v nvcc >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
        release="$(nvcc --version | sed -nE 's/.*release ([0-9]+)\.([0-9]+).*/\1\2/p')"
        [[ -n "$release" ]] && CUDA_TAG="cu$release"
    fi
fi
if [[ ! "$CUDA_TAG" =~ ^(cpu|cu[0-9]{3,})$ ]]; then
    say "MMDET_CENTERMASK_CUDA=$CUDA_TAG: expected auto, cpu or a wheel tag such as cu128"
    exit 1
fi
if [[ "$CUDA_TAG" != cpu ]]; then
    TORCH_VERSION="${MMDET_CENTERMASK_TORCH:-$TORCH_VERSION}"
    if [[ -z "$CUDA_ARCH" ]]; then
        CUDA_ARCH="$( (nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true) | head -n 1 | tr -d ' ')"
    fi
    if [[ ! "$CUDA_ARCH" =~ ^[0-9]+\.[0-9]+$ ]]; then
        say "CUDA build ($CUDA_TAG): no GPU architecture (set MMDET_CENTERMASK_CUDA_ARCH, e.g. 9.0)"
        exit 1
    fi
fi
BUILD="$STACK stack, torch $TORCH_VERSION, $CUDA_TAG${CUDA_ARCH:+, sm ${CUDA_ARCH}}"
# the pins, with the torch of a CUDA build where it differs (2.11.0 matches 2.11.0+cu130)
PINS="$CONSTRAINTS"
if [[ "torch==$TORCH_VERSION" != "$(grep '^torch==' "$CONSTRAINTS")" ]]; then
    PINS="$(mktemp)"
    sed "s/^torch==.*/torch==$TORCH_VERSION/" "$CONSTRAINTS" > "$PINS"
fi
if [[ "${MMDET_CENTERMASK_SETUP_PLAN:-0}" == 1 ]]; then
    say "plan: $BUILD; pins: $(grep '^torch==' "$PINS"), $MMCV_DIST==$MMCV_VERSION; venv: ${VENV#"$ROOT/"}"
    exit 0
fi

# What the environment is made from: a change to any of these re-runs the install steps.
stamp_value() {
    { cat "$ROOT/pyproject.toml" "$CONSTRAINTS" "${BASH_SOURCE[0]}"; echo "$BUILD"; } | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.setup-stamp"
if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]]; then
    say "environment up to date in $VENV"
    exit 0
fi

if [[ ! -x "$PY" ]]; then
    BASE_PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
    say "creating $VENV with $BASE_PY ($("$BASE_PY" --version))"
    "$BASE_PY" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check)

installed() {  # installed <dist> <version>: true when exactly that version is installed
    [[ "$("$PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" == "$2"* ]]
}

torch_build() {  # cpu or cuXYZ of the installed torch
    "$PY" -c "import torch; v = torch.version.cuda; print('cu' + v.replace('.', '') if v else 'cpu')" 2>/dev/null
}
if installed torch "$TORCH_VERSION" && [[ "$(torch_build)" == "$CUDA_TAG" ]]; then
    say "torch $TORCH_VERSION ($CUDA_TAG) present"
elif [[ "$CUDA_TAG" == cpu ]]; then
    say "installing torch==$TORCH_VERSION (the CPU build)"
    "${PIP[@]}" install "torch==$TORCH_VERSION"
else
    say "installing torch==$TORCH_VERSION ($CUDA_TAG) from download.pytorch.org"
    "${PIP[@]}" install "torch==$TORCH_VERSION" --index-url "https://download.pytorch.org/whl/$CUDA_TAG"
fi
# mmcv's setup.py imports pkg_resources (gone in setuptools 82); mmengine's mmdet:: lookup needs it too.
say "installing build tools (setuptools<82, wheel, ninja, numpy)"
"${PIP[@]}" install -q -c "$PINS" "setuptools<82" wheel ninja numpy packaging

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/wheels/$MMCV_DIST-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG"
OPS=CPU
if [[ "$CUDA_TAG" != cpu ]]; then
    WHEEL_DIR="$WHEEL_DIR-$CUDA_TAG-sm${CUDA_ARCH/./}"
    OPS="CUDA ($CUDA_TAG, sm $CUDA_ARCH) and CPU"
fi
if installed "$MMCV_DIST" "$MMCV_VERSION" && "$PY" -c "import mmcv.ops" 2>/dev/null; then
    say "$MMCV_DIST $MMCV_VERSION with compiled ops present"
else
    if ! ls "$WHEEL_DIR"/*mmcv-*.whl >/dev/null 2>&1; then
        say "building $MMCV_DIST $MMCV_VERSION with $OPS ops (CPU only: about 15 min on 2 cores; progress follows)"
        mkdir -p "$WHEEL_DIR"
        TMP_WHEELS="$(mktemp -d)"
        LOG="$TMP_WHEELS/build.log"
        # the full compiler log goes to a file; the ninja step counter shows progress
        FORCE_CUDA=0
        [[ "$CUDA_TAG" != cpu ]] && FORCE_CUDA=1
        MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA TORCH_CUDA_ARCH_LIST="$CUDA_ARCH" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "${PIP[@]}" wheel -v --no-build-isolation --no-deps -c "$PINS" \
            -w "$TMP_WHEELS" "$MMCV_DIST==$MMCV_VERSION" > "$LOG" 2>&1 &
        BUILD_PID=$!
        while kill -0 "$BUILD_PID" 2>/dev/null; do
            sleep 20
            step="$(grep -oE '\[[0-9]+/[0-9]+\]' "$LOG" | tail -n 1 || true)"
            say "  mmcv build: ${step:-preparing} ($(wc -l < "$LOG") log lines)"
        done
        if ! wait "$BUILD_PID"; then
            tail -n 40 "$LOG"
            say "$MMCV_DIST build failed; full log: $LOG"
            exit 1
        fi
        mv "$TMP_WHEELS"/*mmcv-*.whl "$WHEEL_DIR"/
        rm -rf "$TMP_WHEELS"
    fi
    say "installing cached mmcv wheel from $WHEEL_DIR"
    "${PIP[@]}" install -q -c "$PINS" "$WHEEL_DIR"/*mmcv-*.whl
fi

say "installing the $STACK stack's mmengine and mmdet, pycocotools, onnx, onnxruntime, openvino, nncf, ray[serve] and mmdet-centermask (editable; $STACK, test, deploy, serve, analysis and mim extras)"
"${PIP[@]}" install -q -c "$PINS" -e "$ROOT[$STACK,test,deploy,serve,analysis,mim]"
# openmim (`mim search mmdet-centermask`, `mim train mmdet CONFIG`) without its opendatalab, which
# pins setuptools below torch's minimum; the dependencies mim uses come with the mim extra above
say "installing $OPENMIM (without dependencies)"
"${PIP[@]}" install -q --no-deps "$OPENMIM"
# mmengine finds the package of a pure-Python config base (`from mmdet_centermask.configs... import
# *`) at <site-packages>/mmdet_centermask, where an editable install has only an import hook: link
# the checkout's package there, so that mmdet's own tools read those bases too (before anything of
# ours is imported). Both import paths lead to the same files.
SITE_PACKAGES="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ln -sfn "$ROOT/mmdet_centermask" "$SITE_PACKAGES/mmdet_centermask"
# COCO panoptic (mmdet's CocoPanopticMetric and panoptic loading import panopticapi): the PyPI
# build of cocodataset/panopticapi. Without its declared dependencies: it pins numpy<2 and pulls
# scikit-image, and needs only numpy, Pillow and pycocotools, which are here.
say "installing $PANOPTICAPI (without dependencies)"
"${PIP[@]}" install -q --no-deps "$PANOPTICAPI"
"$PY" -c "import mmcv.ops, mmdet, mmdet_centermask, panopticapi.evaluation; print('  torch', __import__('torch').__version__, \
'| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmdet_centermask', mmdet_centermask.__version__)"
stamp_value > "$STAMP"
say "done: activate with 'source ${VENV#"$ROOT/"}/bin/activate'"
