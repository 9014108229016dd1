# The two quick-start commands (README): `make demo` and `make test`. Both set up .venv (the
# OpenMMLab stack) first. `make test-quick`: the unit tests only (not the e2e runs nor the training
# steps of whole zoo models, markers e2e and slow), for the edit loop. `make test-onedl`: the stack subset on the OneDL stack (.venv-onedl);
# `make ci` (what .ci/run runs): `make test` and `make test-onedl`.
# `make demo-panoptic`: the optional panoptic demo (README).
# `make benchmark [BENCH_OPTS="--channels-last --fuse-conv-bn"]`: the README's speed tables
# (inference side by side with mmdet's own models), written to work_dirs/benchmark/.
# `make benchmark-exported`: the README's exported rows (onnxruntime, OpenVINO fp32, bf16 and int8).
# `make demo-int8`: the demo checkpoint (`make demo` trains it if absent) exported, quantized to
# INT8 on its training images and evaluated beside fp32 on the demo val set (OpenVINO, batch 1).
# `make benchmark-peers`: CenterMask-Lite beside the real-time peers, with the speed/accuracy plot.
# `make benchmark-train`: seconds per training iteration, batch 2.
# `make benchmark-masks`: peak memory of 100 masks of a 12-megapixel photo, bitmaps against RLE.
# `make benchmark-serving [CONFIG=... WEIGHTS=...] [SERVE_OPTS="--backend openvino"]`: the served
# throughput and latency at 1, 4 and 16 clients against the in-process loop, and the demo val mAP
# in process and through the server (default: the demo checkpoint, which `make demo` trains;
# `make demo-int8` exports it to $(DEMO_DIR)/model.onnx and model_int8.xml).
PYTHON := .venv/bin/python
ONEDL_PYTHON := .venv-onedl/bin/python
# on the other stack, every place the plugin touches mmdet / mmengine internals: the compat fixes
# and their proofs, the stack window, every zoo config built (both styles), training steps and
# predictions of every detector and head, the subclassed mmdet modules, converters, export
# parity, checkpoint loading, and mmdet's own tools on classic and pure-Python configs
ONEDL_TESTS := tests/test_compat tests/test_stack_window.py tests/test_configs tests/test_models \
	tests/test_datasets tests/test_deployment tests/test_utils tests/test_engine tests/test_apis \
	tests/test_structures tests/e2e/test_batch_inference.py \
	tests/test_model_converters tests/e2e/test_compat_scenarios.py \
	tests/e2e/test_custom_dataset_walkthrough.py tests/e2e/test_centermask_overfit.py \
	tests/e2e/test_installed_wheel.py tests/e2e/test_train_test_tools.py
BENCH_OPTS :=
space := $() $()
BENCH_TAG := $(subst $(space),_,$(strip $(patsubst --%,%,$(BENCH_OPTS))))
BENCH_DIR := work_dirs/benchmark/$(or $(BENCH_TAG),default)
BENCH := $(PYTHON) tools/analysis_tools/benchmark.py --num-dets 50 --threads 2 --num-images 10 \
	$(BENCH_OPTS)
MASK_RCNN := mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py

PANOPTIC_DEMO := configs/panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py
DEMO_CONFIG := configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py
DEMO_DIR := work_dirs/centermask_demo
DEMO_CHECKPOINT := $(DEMO_DIR)/iter_360.pth

EXPORTED := --backend pytorch onnxruntime openvino-fp32 openvino-bf16 openvino-int8
EXPORTED_DIR := work_dirs/benchmark/exported
LITE := configs/centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py
PEERS := mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py mmdet::rtmdet/rtmdet-ins_s_8xb32-300e_coco.py \
	mmdet::yolact/yolact_r50_1xb8-55e_coco.py mmdet::solov2/solov2-light_r18_fpn_ms-3x_coco.py \
	mmdet::solov2/solov2-light_r50_fpn_ms-3x_coco.py \
	mmdet::condinst/condinst_r50_fpn_ms-poly-90k_coco_instance.py
PEERS_DIR := work_dirs/benchmark/peers
TRAIN_DIR := work_dirs/benchmark/train

.PHONY: setup setup-onedl demo demo-panoptic demo-int8 test test-quick test-onedl ci benchmark benchmark-exported benchmark-peers benchmark-train benchmark-masks benchmark-serving

setup:
	@bash tools/setup_env.sh

setup-onedl:
	@MMDET_CENTERMASK_STACK=onedl bash tools/setup_env.sh

demo: setup
	$(PYTHON) tools/run_demo.py

# the optional second demo: Panoptic-CenterMask-Lite on the same data in COCO panoptic format
demo-panoptic: setup
	$(PYTHON) tools/run_demo.py --config $(PANOPTIC_DEMO) --work-dir work_dirs/panoptic_demo

demo-int8: setup
	@test -f $(DEMO_CHECKPOINT) || $(PYTHON) tools/run_demo.py
	$(PYTHON) tools/deployment/export_onnx.py $(DEMO_CONFIG) $(DEMO_CHECKPOINT) \
		--out $(DEMO_DIR)/model.onnx --dynamic
	$(PYTHON) tools/deployment/quantize_openvino.py $(DEMO_CONFIG) $(DEMO_DIR)/model.onnx \
		--out $(DEMO_DIR)/model_int8.xml
	$(PYTHON) tools/deployment/test_onnx.py $(DEMO_CONFIG) $(DEMO_DIR)/model.onnx \
		--backend openvino --precision fp32
	$(PYTHON) tools/deployment/test_onnx.py $(DEMO_CONFIG) $(DEMO_DIR)/model_int8.xml \
		--backend openvino --precision int8

test: setup
	$(PYTHON) -m pytest tests -q -rs --durations=30

test-quick: setup
	$(PYTHON) -m pytest tests -q -rs -m 'not e2e and not slow'

test-onedl: setup-onedl
	$(ONEDL_PYTHON) -m pytest $(ONEDL_TESTS) -q -rs --durations=30

ci: test test-onedl

benchmark: setup
	@mkdir -p $(BENCH_DIR)
	$(BENCH) $(MASK_RCNN) mmdet::ms_rcnn/ms-rcnn_r50_fpn_1x_coco.py \
		configs/centermask/centermask_r50_fpn_1x_coco.py \
		mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py \
		configs/centermask/centermask_v2-39_fpn_ms-3x_coco.py --input-size 800 1216 \
		--out-json $(BENCH_DIR)/800x1216.json --out-md $(BENCH_DIR)/800x1216.md \
		--out-png $(BENCH_DIR)/800x1216.png
	$(BENCH) $(MASK_RCNN) configs/centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py \
		configs/centermask/centermask-lite_v2-39_fpn_ms-4x_coco.py --input-size 600 1000 \
		--out-json $(BENCH_DIR)/600x1000.json --out-md $(BENCH_DIR)/600x1000.md \
		--out-png $(BENCH_DIR)/600x1000.png

benchmark-exported: setup
	@mkdir -p $(EXPORTED_DIR)
	$(BENCH) configs/centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py \
		configs/centermask/centermask-lite_v2-39_fpn_ms-4x_coco.py $(MASK_RCNN) $(EXPORTED) \
		--input-size 600 1000 --out-json $(EXPORTED_DIR)/600x1000.json \
		--out-md $(EXPORTED_DIR)/600x1000.md --out-png $(EXPORTED_DIR)/600x1000.png
	$(BENCH) $(MASK_RCNN) configs/centermask/centermask_r50_fpn_1x_coco.py $(EXPORTED) \
		--input-size 800 1216 --out-json $(EXPORTED_DIR)/800x1216.json \
		--out-md $(EXPORTED_DIR)/800x1216.md --out-png $(EXPORTED_DIR)/800x1216.png

benchmark-peers: setup
	@mkdir -p $(PEERS_DIR)
	$(BENCH) $(LITE) configs/centermask/centermask-lite_v2-39_fpn_ms-4x_coco.py $(PEERS) \
		--backend pytorch onnxruntime openvino-bf16 --input-size 600 1000 \
		--out-json $(PEERS_DIR)/600x1000.json --out-md $(PEERS_DIR)/600x1000.md \
		--out-scatter $(PEERS_DIR)/600x1000_speed_accuracy.png

benchmark-train: setup
	@mkdir -p $(TRAIN_DIR)
	$(PYTHON) tools/analysis_tools/benchmark.py --train --batch-size 2 --num-dets 10 --threads 2 \
		--num-images 2 --warmup 1 --baseline $(MASK_RCNN) configs/centermask/centermask_r50_fpn_1x_coco.py \
		$(MASK_RCNN) mmdet::ms_rcnn/ms-rcnn_r50_fpn_1x_coco.py \
		mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py --input-size 800 1216 \
		--out-json $(TRAIN_DIR)/800x1216.json --out-md $(TRAIN_DIR)/800x1216.md
	$(PYTHON) tools/analysis_tools/benchmark.py --train --batch-size 2 --num-dets 10 --threads 2 \
		--num-images 3 --warmup 1 $(LITE) mmdet::rtmdet/rtmdet-ins_tiny_8xb32-300e_coco.py \
		--input-size 600 1000 --out-json $(TRAIN_DIR)/600x1000.json --out-md $(TRAIN_DIR)/600x1000.md

benchmark-masks: setup
	@mkdir -p work_dirs/benchmark
	$(PYTHON) tools/analysis_tools/benchmark_masks.py --height 3000 --width 4000 --num-dets 100 \
		--threads 2 --out-md work_dirs/benchmark/masks.md

CONFIG ?= $(DEMO_CONFIG)
WEIGHTS ?= $(DEMO_CHECKPOINT)
benchmark-serving: setup
	@mkdir -p work_dirs/benchmark
	@test -f $(WEIGHTS) || $(PYTHON) tools/run_demo.py
	$(PYTHON) tools/analysis_tools/benchmark_serving.py $(CONFIG) $(WEIGHTS) \
		data/centermask_demo/annotations/instances_val.json --img-dir data/centermask_demo/val \
		--evaluate --threads 2 --num-images 10 --requests 40 \
		--out-md work_dirs/benchmark/serving.md $(SERVE_OPTS)
