#!/usr/bin/env bash
# Set up (idempotently) the project's virtual environment in .venv:
#   torch 2.13.0 (CPU) -> mmcv 2.1.0 built WITH its compiled CPU ops (wheel cached outside the repo,
#   keyed by torch and Python version) -> mmengine, mmdet, pycocotools -> this package, editable
#   -> panopticapi-lite (COCO panoptic loading and PQ); the deploy extra: onnx, onnxscript,
#   onnxruntime, openvino (ONNX export and inference).
# A second run on a set-up machine only compares a stamp and returns in about a second.
#
# Environment: PYTHON (interpreter to create the venv with, default python3.11 or python3),
#              MMDET_CENTERMASK_CACHE (wheel cache, default ~/.cache/mmdet-centermask).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0
PANOPTICAPI=panopticapi-lite==0.2.0
CACHE="${MMDET_CENTERMASK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdet-centermask}"
CONSTRAINTS="$ROOT/tools/constraints.txt"

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# What the environment is made from: a change to any of these re-runs the install steps.
stamp_value() {
    cat "$ROOT/pyproject.toml" "$CONSTRAINTS" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
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

if installed torch "$TORCH_VERSION"; then
    say "torch $TORCH_VERSION present"
else
    say "installing torch==$TORCH_VERSION (the CPU build)"
    "${PIP[@]}" install "torch==$TORCH_VERSION"
fi
# mmcv's setup.py imports pkg_resources (gone in setuptools 82); mmengine's mmdet:: lookup needs it too.
say "installing build tools (setuptools<82, wheel, ninja, numpy)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" "setuptools<82" wheel ninja numpy packaging

PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_VERSION-$PYTAG"
if installed mmcv "$MMCV_VERSION" && "$PY" -c "import mmcv.ops" 2>/dev/null; then
    say "mmcv $MMCV_VERSION with compiled ops present"
else
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        say "building mmcv $MMCV_VERSION with CPU ops (about 6-7 min on 2 cores; compiler output follows)"
        mkdir -p "$WHEEL_DIR"
        TMP_WHEELS="$(mktemp -d)"
        LOG="$TMP_WHEELS/build.log"
        # the full compiler log goes to a file; the ninja step counter shows progress
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "${PIP[@]}" wheel -v --no-build-isolation --no-deps -c "$CONSTRAINTS" \
            -w "$TMP_WHEELS" "mmcv==$MMCV_VERSION" > "$LOG" 2>&1 &
        BUILD_PID=$!
        while kill -0 "$BUILD_PID" 2>/dev/null; do
            sleep 20
            step="$(grep -oE '\[[0-9]+/[0-9]+\]' "$LOG" | tail -n 1 || true)"
            say "  mmcv build: ${step:-preparing} ($(wc -l < "$LOG") log lines)"
        done
        if ! wait "$BUILD_PID"; then
            tail -n 40 "$LOG"
            say "mmcv build failed; full log: $LOG"
            exit 1
        fi
        mv "$TMP_WHEELS"/mmcv-*.whl "$WHEEL_DIR"/
        rm -rf "$TMP_WHEELS"
    fi
    say "installing cached mmcv wheel from $WHEEL_DIR"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" "$WHEEL_DIR"/mmcv-*.whl
fi

say "installing mmengine, mmdet, pycocotools, onnx, onnxruntime, openvino and mmdet-centermask (editable, test and deploy extras)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -e "$ROOT[test,deploy]"
# COCO panoptic (mmdet's CocoPanopticMetric and panoptic loading import panopticapi): the PyPI
# build of cocodataset/panopticapi. Without its declared dependencies: it pins numpy<2 and pulls
# scikit-image, and needs only numpy, Pillow and pycocotools, which are here.
say "installing $PANOPTICAPI (without dependencies)"
"${PIP[@]}" install -q --no-deps "$PANOPTICAPI"
"$PY" -c "import mmcv.ops, mmdet, mmdet_centermask, panopticapi.evaluation; print('  torch', __import__('torch').__version__, \
'| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmdet_centermask', mmdet_centermask.__version__)"
stamp_value > "$STAMP"
say "done: activate with 'source .venv/bin/activate'"
