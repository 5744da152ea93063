#!/usr/bin/env bash
# Installs what lookout needs on Debian/Ubuntu: the apt packages below and a Rust toolchain check.
# As root it installs directly; otherwise it prints the exact command to run and stops.
set -euo pipefail

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
  # TLS for MQTT and https webhooks (system OpenSSL)
  libssl-dev
  # event sinks: a real MQTT broker and a real NATS server (JetStream) for the tests; the tests
  # start their own on free ports (Debian's services, if started, listen on 127.0.0.1 only)
  mosquitto nats-server
  # deploy: systemd-analyze checks the service unit in the tests
  systemd
)

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

if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install Rust 1.95 or newer from https://rustup.rs and run make again" >&2
  exit 1
fi
