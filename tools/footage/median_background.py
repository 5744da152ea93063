#!/usr/bin/env python3
"""Writes pipelines/footage/vtest-background.jpg: the campus path of vtest.avi with nobody on it.

The per-pixel median of one frame a second (80 frames): pedestrians never stand long enough in
one place to win the median. Plain Python and GStreamer only (no numpy, no OpenCV).
Run from the repository root: python3 tools/footage/median_background.py
"""
import glob
import os
import subprocess
import tempfile

W, H = 768, 576
with tempfile.TemporaryDirectory() as tmp:
    subprocess.run(
        ["gst-launch-1.0", "-q", "filesrc", "location=pipelines/footage/vtest.avi", "!",
         "decodebin", "!", "videoconvert", "!", "video/x-raw,format=RGB", "!",
         "videorate", "drop-only=true", "max-rate=1", "!",
         "multifilesink", f"location={tmp}/f%03d.rgb"],
        check=True)
    frames = [open(f, "rb").read() for f in sorted(glob.glob(f"{tmp}/f*.rgb"))]
    k = len(frames)
    median = bytes(sorted(f[i] for f in frames)[k // 2] for i in range(W * H * 3))
    raw = os.path.join(tmp, "bg.rgb")
    open(raw, "wb").write(median)
    subprocess.run(
        ["gst-launch-1.0", "-q", "filesrc", f"location={raw}", f"blocksize={W * H * 3}", "!",
         "rawvideoparse", f"width={W}", f"height={H}", "format=rgb", "framerate=1/1", "!",
         "videoconvert", "!", "jpegenc", "quality=92", "!",
         "filesink", "location=pipelines/footage/vtest-background.jpg"],
        check=True)
