//! `lookout redact INPUT OUTPUT [--model M] [--mask POLYGON]... [--style S] [--margin F]`: faces
//! (and mask polygons) hidden in a picture or a video file, locally, on the GPU.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::capture::input::{self, FileInput};
use lookout::geometry::Point;
use lookout::infer::gpu::Precision;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, BackendOptions};
use lookout::privacy::regions::{PixelBox, grow};
use lookout::privacy::{FaceFinder, PrivacyError, RedactStyle, Redactor, Regions, snapshot};
use lookout::rules::Units;

use super::BadInput;

/// Arguments of `lookout redact`.
#[derive(clap::Args)]
pub struct Args {
    /// A PNG or JPEG picture, or a video file.
    input: PathBuf,
    /// The redacted copy: `.png` or `.jpg` for a picture, `.mp4` (H.264) for a video.
    output: PathBuf,
    /// Face model manifest: CenterFace or BlazeFace.
    #[arg(
        long,
        value_name = "MANIFEST.yaml",
        default_value = "models/centerface.yaml"
    )]
    model: PathBuf,
    /// auto (a hardware GPU if wgpu finds one, else the fastest CPU engine), wgpu, cpu,
    /// onnxruntime or opencv: where the face model runs (redaction itself always runs through wgpu).
    #[arg(long, default_value = "auto")]
    backend: BackendKind,
    /// GPU adapter: `high-performance`, `low-power` or part of a name (`lookout devices`).
    #[arg(long, default_value = "high-performance")]
    adapter: String,
    /// A privacy-mask polygon, filled black: corners `x,y x,y x,y ...` (repeatable).
    #[arg(long = "mask", value_name = "POLYGON")]
    masks: Vec<String>,
    /// Units of --mask corners: `relative` (0..1 of the frame) or `pixels`.
    #[arg(long, default_value = "relative", value_parser = ["relative", "pixels"])]
    units: String,
    /// How faces are hidden: blur, pixelate or fill.
    #[arg(long, default_value = "blur")]
    style: RedactStyle,
    /// Each face box grows by this fraction of its width and height on every side.
    #[arg(long, default_value_t = lookout::privacy::config::DEFAULT_MARGIN)]
    margin: f32,
    /// Minimum face score, replacing the model's threshold (lower hides more).
    #[arg(long, value_name = "SCORE")]
    min_score: Option<f32>,
    /// Print a JSON report (frames, faces, redacted boxes) instead of a summary line.
    #[arg(long)]
    json: bool,
}

/// What was redacted on one frame.
#[derive(serde::Serialize)]
struct FrameReport {
    frame: u64,
    /// Faces found by the model, in frame pixels.
    faces: Vec<[f32; 4]>,
    /// The boxes actually redacted (grown by the margin, clipped, merged), in pixels.
    boxes: Vec<PixelBox>,
}

/// The `--json` report.
#[derive(serde::Serialize)]
struct Report {
    input: String,
    output: String,
    width: u32,
    height: u32,
    style: RedactStyle,
    margin: f32,
    masks: Vec<Vec<Point>>,
    frames: Vec<FrameReport>,
}

/// Parses `x,y x,y x,y` into corners.
fn parse_polygon(text: &str, units: Units) -> Result<Vec<Point>, String> {
    let pts = text
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair
                .split_once(',')
                .ok_or_else(|| format!("`{pair}` is not a corner `x,y`"))?;
            let num = |v: &str| {
                v.trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("`{pair}`: `{v}` is not a coordinate of 0 or more"))
            };
            Ok([num(x)?, num(y)?])
        })
        .collect::<Result<Vec<Point>, String>>()?;
    if pts.len() < 3 {
        return Err(format!(
            "mask `{text}`: a polygon needs at least 3 corners `x,y x,y x,y`"
        ));
    }
    if units == Units::Relative && pts.iter().flatten().any(|v| *v > 1.0) {
        return Err(format!(
            "mask `{text}`: relative corners are in 0..1; use --units pixels for pixel positions"
        ));
    }
    Ok(pts)
}

/// The face finder, the redactor and the settings, shared by pictures and videos.
struct Job {
    finder: FaceFinder,
    redactor: Redactor,
    style: RedactStyle,
    margin: f32,
    units: Units,
    masks: Vec<Vec<Point>>,
}

impl Job {
    fn masks_in_pixels(&self, w: u32, h: u32) -> Vec<Vec<Point>> {
        self.masks
            .iter()
            .map(|m| m.iter().map(|&p| self.units.to_pixels(p, w, h)).collect())
            .collect()
    }

    /// Finds faces on `image` and returns it redacted as packed RGBA, with what was done.
    fn redact(
        &mut self,
        image: &ImageRef<'_>,
        frame: u64,
    ) -> Result<(Vec<u8>, FrameReport), PrivacyError> {
        let faces: Vec<[f32; 4]> = self.finder.find(image)?.iter().map(|d| d.bbox).collect();
        let grown: Vec<[f32; 4]> = faces.iter().map(|b| grow(*b, self.margin)).collect();
        let regions = Regions::new(
            &grown,
            self.masks_in_pixels(image.width, image.height),
            image.width,
            image.height,
        );
        let out = self.redactor.redact(image, &regions, self.style)?;
        Ok((
            out,
            FrameReport {
                frame,
                faces,
                boxes: regions.boxes,
            },
        ))
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.input.exists() {
        return Err(BadInput(format!("{}: no such file", args.input.display())).into());
    }
    input::check(&args.input)?;
    if !(0.0..=2.0).contains(&args.margin) {
        return Err(BadInput(format!("--margin {} is outside 0..2", args.margin)).into());
    }
    let units = if args.units == "pixels" {
        Units::Pixels
    } else {
        Units::Relative
    };
    let masks = args
        .masks
        .iter()
        .map(|m| parse_polygon(m, units))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BadInput)?;
    let picture = match input::open(&args.input) {
        Ok(FileInput::Picture(p)) => Some(p),
        Ok(FileInput::Video) => None,
        Err(e) => return Err(BadInput(e.to_string()).into()),
    };
    let ext = args
        .output
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let wanted: &[&str] = if picture.is_some() {
        &["png", "jpg", "jpeg"]
    } else {
        &["mp4"]
    };
    if !wanted.contains(&ext.as_str()) {
        return Err(BadInput(format!(
            "{}: the output of a {} must end in .{}",
            args.output.display(),
            if picture.is_some() {
                "picture"
            } else {
                "video"
            },
            wanted.join(" or .")
        ))
        .into());
    }

    let mut manifest = ModelManifest::load(&args.model).map_err(|e| {
        BadInput(format!(
            "{e} (give the face model with --model models/centerface.yaml)"
        ))
    })?;
    if let Some(t) = args.min_score {
        if !(0.0..=1.0).contains(&t) {
            return Err(BadInput(format!("--min-score {t} is outside 0..1")).into());
        }
        manifest.score_threshold = t;
    }
    let opts = BackendOptions {
        adapter: select::adapter_choice(&args.adapter),
        precision: Precision::F32,
        max_batch: 1,
        ..BackendOptions::default()
    };
    let finder = FaceFinder::new(manifest, args.backend, &opts)?;
    let ctx = select::gpu_context(&opts.adapter)
        .context("redaction runs on the GPU through wgpu, and no adapter could be opened")?;
    let redactor = Redactor::new(&ctx)?;
    tracing::info!(model = %finder.model(), backend = %finder.backend(), adapter = %redactor.adapter(), "redacting");
    let mut job = Job {
        finder,
        redactor,
        style: args.style,
        margin: args.margin,
        units,
        masks: masks.clone(),
    };

    let (width, height, frames) = match picture {
        Some(rgba) => {
            let image = ImageRef::packed(
                PixelFormat::Rgba,
                rgba.width(),
                rgba.height(),
                rgba.as_raw(),
            );
            let (out, report) = job.redact(&image, 0)?;
            let bytes = encode_picture(&out, image.width, image.height, &ext)?;
            snapshot::write_atomic(&args.output, &bytes)?;
            (image.width, image.height, vec![report])
        }
        None => video::redact(&mut job, &args.input, &args.output)?,
    };

    let report = Report {
        input: args.input.display().to_string(),
        output: args.output.display().to_string(),
        width,
        height,
        style: args.style,
        margin: args.margin,
        masks,
        frames,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        let with = report.frames.iter().filter(|f| !f.faces.is_empty()).count();
        let faces: usize = report.frames.iter().map(|f| f.faces.len()).sum();
        outln!(
            "{} -> {}: {} frame{}, {faces} face{} redacted on {with} ({}, margin {}), {} mask{}",
            report.input,
            report.output,
            report.frames.len(),
            if report.frames.len() == 1 { "" } else { "s" },
            if faces == 1 { "" } else { "s" },
            args.style.name(),
            args.margin,
            report.masks.len(),
            if report.masks.len() == 1 { "" } else { "s" },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// PNG (lossless, alpha kept) or JPEG (quality 95) by the output's extension.
fn encode_picture(rgba: &[u8], w: u32, h: u32, ext: &str) -> anyhow::Result<Vec<u8>> {
    if ext == "png" {
        let mut out = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut out),
            rgba,
            w,
            h,
            image::ExtendedColorType::Rgba8,
        )
        .context("cannot encode PNG")?;
        Ok(out)
    } else {
        Ok(snapshot::encode_jpeg(rgba, w, h, 95)?)
    }
}

#[cfg(feature = "capture")]
mod video {
    use std::path::Path;

    use anyhow::Context;
    use lookout::capture::gst::VideoDecoder;
    use lookout::privacy::video::VideoEncoder;

    use super::{BadInput, FrameReport, Job};

    /// Redacts every frame of the video at `input` into an MP4 at `output` (written under a
    /// temporary name and renamed when complete); returns the size and the per-frame reports.
    pub fn redact(
        job: &mut Job,
        input: &Path,
        output: &Path,
    ) -> anyhow::Result<(u32, u32, Vec<FrameReport>)> {
        let mut decoder = VideoDecoder::open(input).map_err(|e| {
            BadInput(format!(
                "{}: not a PNG or JPEG picture, and cannot be decoded as video: {e}",
                input.display()
            ))
        })?;
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let partial = output.with_file_name(format!(".{name}.part.mp4"));
        let result = run(job, &mut decoder, input, &partial);
        match result {
            Ok(r) => {
                std::fs::rename(&partial, output)
                    .with_context(|| format!("cannot write {}", output.display()))?;
                Ok(r)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    fn run(
        job: &mut Job,
        decoder: &mut VideoDecoder,
        input: &Path,
        partial: &Path,
    ) -> anyhow::Result<(u32, u32, Vec<FrameReport>)> {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {pos}/{len} frames, {per_sec}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("redacting {}", input.display()));
        let mut encoder: Option<VideoEncoder> = None;
        let mut reports = Vec::new();
        let mut size = (0, 0);
        while let Some(frame) = decoder.next_frame()? {
            let image = frame.image();
            if encoder.is_none() {
                size = (image.width, image.height);
                encoder = Some(VideoEncoder::create(
                    partial,
                    image.width,
                    image.height,
                    decoder.framerate().unwrap_or((25, 1)),
                    false,
                )?);
                if let Some(n) = decoder.estimated_frames() {
                    bar.set_length(n);
                }
            }
            if (image.width, image.height) != size {
                anyhow::bail!(
                    "{}: the frame size changed mid-stream ({}x{} -> {}x{})",
                    input.display(),
                    size.0,
                    size.1,
                    image.width,
                    image.height
                );
            }
            let (rgba, report) = job.redact(&image, frame.index)?;
            let pts = frame
                .pts
                .unwrap_or(std::time::Duration::from_millis(40 * frame.index));
            if let Some(enc) = encoder.as_mut() {
                enc.push(&rgba, image.width, pts, frame.duration)?;
            }
            reports.push(report);
            bar.set_length(bar.length().unwrap_or(0).max(frame.index + 1));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let Some(enc) = encoder else {
            return Err(BadInput(format!("{}: no video frames", input.display())).into());
        };
        enc.finish()?;
        Ok((size.0, size.1, reports))
    }
}

#[cfg(not(feature = "capture"))]
mod video {
    use std::path::Path;

    use super::{BadInput, FrameReport, Job};

    /// Without GStreamer only pictures can be redacted.
    pub fn redact(
        _job: &mut Job,
        input: &Path,
        _output: &Path,
    ) -> anyhow::Result<(u32, u32, Vec<FrameReport>)> {
        Err(BadInput(format!(
            "{}: not a PNG or JPEG picture (video needs a build with the `capture` feature)",
            input.display()
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygons_parse() {
        assert_eq!(
            parse_polygon("0,0 0.5,0 0.5,0.5", Units::Relative).unwrap(),
            vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]]
        );
        assert!(parse_polygon("0,0 1,1", Units::Relative).is_err());
        assert!(parse_polygon("0,0 10,0 10,10", Units::Relative).is_err());
        assert!(parse_polygon("0,0 10,0 10,10", Units::Pixels).is_ok());
        assert!(parse_polygon("0,0 a,0 1,1", Units::Pixels).is_err());
    }
}
