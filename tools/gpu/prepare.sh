#!/usr/bin/env bash
# On the development machine: everything the GPU machine needs that it does not have, in
# git-ignored folders the `device` tool carries along (see README, "Speed on a GPU"):
#   .devbin/lookout.gz  lookout without GStreamer and OpenCV (the GPU machine has neither), stripped
#                       and compressed (the device tool carries 64 MiB with the tracked files)
#   .gl/*.deb        the Vulkan loader and GL libraries, unpacked there by tools/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build --release --no-default-features --target-dir target/gpu
mkdir -p .devbin
rm -f .devbin/lookout
gzip -9 -c target/gpu/release/lookout >.devbin/lookout.gz

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/lookout-apt-amd64/partial
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/lookout-apt-amd64)
    apt-get "${o[@]}" update
    (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
carried=$(du -cb .devbin .gl | tail -1 | cut -f1)
echo "working tree $((tracked / 1048576)) MiB + carried $((carried / 1048576)) MiB (the device tool takes 64 MiB)"
if [ $((tracked + carried)) -gt $((64 * 1048576)) ]; then
    # The GPU machine regenerates the YOLOv8n network with PyTorch (run.sh yolo): this copy, which
    # the CPU tests use, can stay behind for a device call (git add it back afterwards).
    echo "over the limit: before the device call, leave the YOLOv8n file behind:" >&2
    echo "  git rm -q --cached models/bench/yolov8n-arch-random.onnx && echo /models/bench/yolov8n-arch-random.onnx >>.git/info/exclude" >&2
    echo "and afterwards: sed -i '\\|yolov8n-arch-random|d' .git/info/exclude && git add models/bench/yolov8n-arch-random.onnx" >&2
fi
