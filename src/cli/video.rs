//! Video files for the commands that read them (`detect`, `quantize`): decoded with GStreamer to
//! RGBA, frame by frame, until the caller has enough.

use std::path::Path;

use lookout::capture::frame::ImageRef;

use super::BadInput;

/// The error for a file that is neither a picture lookout reads nor a video it can decode.
#[cfg(feature = "capture")]
fn not_video(path: &Path, why: impl std::fmt::Display) -> BadInput {
    BadInput(format!(
        "{}: not a PNG or JPEG picture, and cannot be decoded as video: {why}",
        path.display()
    ))
}

/// Calls `f(index, pts, picture)` for each frame of the video at `path` until it returns
/// `false` or the video ends; a file without frames is an error.
#[cfg(feature = "capture")]
pub fn frames(
    path: &Path,
    mut f: impl FnMut(u64, Option<std::time::Duration>, ImageRef<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    use lookout::capture::gst::VideoDecoder;
    let mut decoder = VideoDecoder::open(path).map_err(|e| not_video(path, e))?;
    let mut any = false;
    while let Some(frame) = decoder.next_frame().map_err(|e| not_video(path, e))? {
        any = true;
        if !f(frame.index, frame.pts, frame.image())? {
            break;
        }
    }
    if !any {
        return Err(not_video(path, "no video frames").into());
    }
    Ok(())
}

/// Without GStreamer only pictures can be read.
#[cfg(not(feature = "capture"))]
pub fn frames(
    path: &Path,
    _f: impl FnMut(u64, Option<std::time::Duration>, ImageRef<'_>) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    Err(BadInput(format!(
        "{}: not a PNG or JPEG picture (video needs a build with the `capture` feature)",
        path.display()
    ))
    .into())
}
