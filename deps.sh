#!/usr/bin/env bash
# Installs what lookout needs on Debian/Ubuntu: the apt packages below and a Rust toolchain check.
# As root it installs directly; otherwise it prints the exact command to run and stops.
# `./deps.sh --test` adds what only the tests need (Firefox and its WebDriver server).
set -euo pipefail
for_tests=false
[[ ${1:-} == --test ]] && for_tests=true

PACKAGES=(
  # build
  pkg-config clang libclang-dev
  # capture: GStreamer, its decoders (libav decodes the bundled MS-MPEG4 vtest.avi) and the RTSP server for tests
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools libgstrtspserver-1.0-dev
  # inference: Vulkan loader and Mesa's lavapipe (a software Vulkan adapter where there is no GPU)
  libvulkan1 mesa-vulkan-drivers
  # CPU fallback backend: OpenCV DNN
  libopencv-dev
  # CPU backend: pip fetches the ONNX Runtime wheel that carries libonnxruntime.so (see below)
  python3-pip
  # TLS for MQTT and https webhooks (system OpenSSL)
  libssl-dev
  # event sinks: a real MQTT broker and a real NATS server (JetStream) for the tests; the tests
  # start their own on free ports (Debian's services, if started, listen on 127.0.0.1 only)
  mosquitto nats-server
  # deploy: systemd-analyze checks the service unit in the tests
  systemd
  # the web page's tests: a real headless browser driven over WebDriver
  chromium chromium-driver
)
# The tests also drive the page in Firefox; Debian packages Firefox ESR but not geckodriver,
# which is built from crates.io below.
$for_tests && PACKAGES+=(firefox-esr)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: run this once, then run make again:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# ONNX Runtime for the `onnxruntime`/`cpu` backend: the `onnxruntime` wheel of the Python package
# index carries libonnxruntime.so. pip downloads the pinned wheel (checked against its sha256), and
# only the library is unpacked into .ort/ (git-ignored), where lookout looks for it; nothing of
# Python is needed at run time. ORT_DYLIB_PATH overrides it with a build of your own.
ORT_VERSION=1.32.0
ORT_DIR="$(cd "$(dirname "$0")" && pwd)/.ort"
case "$(uname -m)" in
  x86_64) ort_platform=manylinux_2_28_x86_64 ort_sha256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d ;;
  aarch64) ort_platform=manylinux_2_28_aarch64 ort_sha256=2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c ;;
  *) ort_platform= ;;
esac
if [[ -z $ort_platform ]]; then
  echo "deps: no ONNX Runtime wheel for $(uname -m); the cpu backend will use OpenCV" >&2
elif [[ ! -f $ORT_DIR/libonnxruntime.so.$ORT_VERSION ]]; then
  echo "deps: fetching ONNX Runtime $ORT_VERSION (the onnxruntime wheel, for its libonnxruntime.so)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$ort_platform" --python-version 3.11 --implementation cp \
    "onnxruntime==$ORT_VERSION" -d "$tmp"
  wheel=("$tmp"/onnxruntime-"$ORT_VERSION"-*.whl)
  echo "$ort_sha256  ${wheel[0]}" | sha256sum --check --quiet
  mkdir -p "$ORT_DIR"
  python3 - "${wheel[0]}" "$ORT_DIR" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/libonnxruntime"):
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(os.path.join(out, base), 0o755)
PY
  ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install Rust 1.95 or newer from https://rustup.rs and run make again" >&2
  exit 1
fi

# geckodriver (Mozilla's WebDriver server for Firefox) from crates.io, pinned and built with its
# own lock file into .tools/ (git-ignored), where the browser tests look for it.
GECKODRIVER_VERSION=0.37.1
TOOLS_DIR="$(cd "$(dirname "$0")" && pwd)/.tools"
if $for_tests && [[ ! -x $TOOLS_DIR/bin/geckodriver ]]; then
  echo "deps: building geckodriver $GECKODRIVER_VERSION (crates.io) for the Firefox tests"
  cargo install --quiet --locked --root "$TOOLS_DIR" "geckodriver@$GECKODRIVER_VERSION"
fi
