#!/usr/bin/env bash
# On the GPU machine: several parts of tools/gpu/run.sh in one device call, in the order given,
# each under its own time limit so that what ran comes back even when a later part runs long:
#   bash tools/gpu/session.sh yolo:150 pipeline:120 gating:150 models:200
# Results of every part, in one archive: $OUT/results.tgz (the device tool brings back 8 files at most).
set -uo pipefail
: "${OUT:?run through the device tool, which sets OUT}"
final=$OUT
res=${RESULTS:-/tmp/lookout-gpu}
mkdir -p "$res"
for spec in "$@"; do
    part=${spec%%:*}
    limit=${spec#*:}
    start=$(date +%s)
    OUT=$res timeout -k 5 "$limit" bash tools/gpu/run.sh "$part" >"$res/$part.out" 2>&1
    echo "$part rc=$? ${limit}s limit, $(($(date +%s) - start))s" | tee -a "$res/parts.txt"
    # A part stopped at its limit leaves its benchmark running: stop it before the next part.
    pkill -f "lookout bench" 2>/dev/null && sleep 1
    tar czf "$final/results.tgz" --exclude='*.onnx' -C "$res" .
done
