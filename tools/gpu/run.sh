#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .devbin and .gl carried (tools/gpu/prepare.sh):
#   bash tools/gpu/run.sh yolo       PyTorch and onnxruntime peers, then lookout on the same network
#   bash tools/gpu/run.sh models     every shipped model: batch sizes, whole frames, per-kernel profiles
#   bash tools/gpu/run.sh pipeline   the most 1080p cameras at 30 fps with NanoDet
#   bash tools/gpu/run.sh gating     cameras at 5 detections/s, three of four idle, motion gating off and on
#   bash tools/gpu/run.sh scaling    whether a batch costs less per picture: call phases, kernels at batch 1-32
#   bash tools/gpu/run.sh motiongpu  the motion pass on the CPU and on the GPU (motion.gpu): CPU cores busy
# MODELS (models part) and GATING_ORDER (gating part) narrow a part down to what is still missing.
# Each part fits in one 10-minute call. Results are JSON lines and logs under $OUT.
set -uo pipefail
: "${OUT:?run through the device tool, which sets OUT}"
BIN=${BIN:-.devbin/lookout}
# prepare.sh carries the binary compressed: unpacked once per machine (a part stopped at its
# limit may leave a benchmark running from it, so it is never rewritten in place).
if [ ! -x "$BIN" ] && [ -f "$BIN.gz" ]; then
    if [ ! -x /tmp/lookout ]; then
        gunzip -c "$BIN.gz" >/tmp/lookout.part && chmod +x /tmp/lookout.part &&
            mv /tmp/lookout.part /tmp/lookout
    fi
    BIN=/tmp/lookout
fi
SECONDS_EACH=${SECONDS_EACH:-4}

# The GPU machine has NVIDIA's Vulkan driver but no loader: unpack the carried one (elsewhere,
# e.g. a local try on lavapipe, the system's loader is used as it is).
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} LOOKOUT_LOG=${LOOKOUT_LOG:-warn}
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv >"$OUT/gpu.csv" 2>&1 || true
"$BIN" devices >"$OUT/devices.txt" 2>&1

# One lookout bench run: a JSON line into $OUT/<file>.jsonl, its log beside it.
bench() {
    local file=$1
    shift
    echo "lookout bench $*" >&2
    "$BIN" bench --json --seconds "$SECONDS_EACH" "$@" >>"$OUT/$file.jsonl" 2>>"$OUT/$file.log" ||
        echo "FAILED: lookout bench $*" | tee -a "$OUT/$file.log" >&2
}

case "${1:-}" in
yolo)
    work=$OUT/yolo
    mkdir -p "$work"
    here=$PWD
    # Writes y.onnx (batch 1) and y_dyn.onnx (any batch) in the working folder.
    (cd "$work" && python3 "$here/tools/peers/yolov8n_peers.py" >"$OUT/peers-yolov8n.json" 2>"$OUT/peers-yolov8n.log")
    for prec in "" --f16; do
        bench yolov8n --model "$work/y.onnx" --input-shape 1x3x640x640 --backend wgpu $prec
        for b in 8 32 64; do
            bench yolov8n --model "$work/y_dyn.onnx" --input-shape ${b}x3x640x640 --batch $b --backend wgpu $prec
        done
    done
    bench yolov8n-profile --model "$work/y.onnx" --input-shape 1x3x640x640 --backend wgpu --profile
    bench yolov8n-profile --model "$work/y.onnx" --input-shape 1x3x640x640 --backend wgpu --profile --f16
    rm -f "$work"/*.onnx
    ;;
models)
    # Every shipped model; the two the speed targets name get a batch sweep.
    for m in ${MODELS:-nanodet-g-416 centerface blazeface-short-range-128 blazeface-full-range-192 \
        ssdlite-mobilenetv2-person-300}; do
        case $m in
        nanodet-g-416 | centerface) batches="1 2 4 8 16 32" ;;
        *) batches="1 8" ;;
        esac
        for prec in "" --f16; do
            for b in $batches; do
                bench "$m" --model "models/$m.yaml" --backend wgpu --batch $b $prec
            done
            bench "$m-frames" --model "models/$m.yaml" --backend wgpu --frames --batch 1 $prec
            bench "$m-frames" --model "models/$m.yaml" --backend wgpu --frames --batch 16 $prec
        done
        bench "$m-profile" --model "models/$m.yaml" --backend wgpu --profile
    done
    ;;
pipeline)
    # Batch 1 first: one picture per call, what a batch of this batch-1 export cost before it
    # was widened into one pass (the same run's baseline for batch 32).
    for run in "1" "32" "32 --f16"; do
        "$BIN" bench --pipeline --json --model models/nanodet-g-416.yaml --backend wgpu --fps 30 \
            --batch $run --seconds 3 >>"$OUT/pipeline.jsonl" 2>>"$OUT/pipeline.log" ||
            echo "FAILED: pipeline --batch $run" | tee -a "$OUT/pipeline.log" >&2
    done
    "$BIN" bench --pipeline --json --model models/nanodet-g-416.yaml --backend wgpu --fps 30 \
        --batch 32 --seconds 5 --cameras 100 >>"$OUT/pipeline-100.jsonl" 2>>"$OUT/pipeline.log"
    ;;
gating)
    # Motion gating's table (README, "Motion gating"): the most cameras at 5 detections/s with
    # three of four showing a still, noisy scene, gating off and on in turns (off, on, on, off).
    for motion in ${GATING_ORDER:-off on on off}; do
        "$BIN" bench --pipeline --json --model models/nanodet-g-416.yaml --backend wgpu --fps 5 \
            --idle 0.75 --motion $motion --batch 32 --seconds "$SECONDS_EACH" --max-cameras 2048 \
            >>"$OUT/gating.jsonl" 2>>"$OUT/gating.log" ||
            echo "FAILED: gating $motion" | tee -a "$OUT/gating.log" >&2
    done
    ;;
motiongpu)
    # What the motion pass on the GPU saves the host (README, "Motion"): the same cameras at 5
    # detections/s, three of four idle, the pass on the CPU and on the GPU in turns; each line's
    # `cpu_cores` is the process's CPU time per second of the window.
    for motion in on gpu gpu on; do
        "$BIN" bench --pipeline --json --model models/nanodet-g-416.yaml --backend wgpu --fps 5 \
            --idle 0.75 --motion $motion --batch 32 --seconds "$SECONDS_EACH" \
            --cameras "${MOTION_CAMERAS:-128}" >>"$OUT/motiongpu.jsonl" 2>>"$OUT/motiongpu.log" ||
            echo "FAILED: motiongpu $motion" | tee -a "$OUT/motiongpu.log" >&2
    done
    ;;
scaling)
    # Per-picture cost against batch size: the call's phases (host, wait, device pass) in every
    # line, per-kernel times at each batch.
    for b in 1 8 32; do
        bench scaling --model models/nanodet-g-416.yaml --backend wgpu --batch $b --profile
    done
    bench scaling --model models/nanodet-g-416.yaml --backend wgpu --frames --batch 1
    bench scaling --model models/nanodet-g-416.yaml --backend wgpu --frames --batch 16
    bench scaling --model models/centerface.yaml --backend wgpu --batch 1
    bench scaling --model models/centerface.yaml --backend wgpu --batch 32 --profile
    ;;
*)
    echo "usage: bash tools/gpu/run.sh yolo|models|pipeline|gating|scaling|motiongpu" >&2
    exit 2
    ;;
esac
ls -la "$OUT"
