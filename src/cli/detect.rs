//! `lookout detect --model models/<name>.yaml [--backend ...] [--json] [--annotate OUT.png] INPUT...`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::capture::input::{self, FileInput};
use lookout::detect::annotate::{Canvas, draw};
use lookout::detect::{DetectError, Detection, nms};
use lookout::infer::InferError;
use lookout::infer::gpu::Precision;
use lookout::model::Detector;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, SelectError};
use lookout::motion::{MotionConfig, MotionDetector};
use lookout::schedule::gate::{MotionGate, Plan};

use super::BadInput;

/// Arguments of `lookout detect`.
#[derive(clap::Args)]
pub struct Args {
    /// Model manifest, e.g. models/nanodet-g-416.yaml.
    #[arg(long, value_name = "MANIFEST.yaml")]
    model: PathBuf,
    /// auto (a hardware GPU if wgpu finds one, else the fastest CPU engine), wgpu, cpu, onnxruntime
    /// or opencv.
    #[arg(long, default_value = "auto")]
    backend: BackendKind,
    /// GPU adapter for wgpu: `high-performance`, `low-power` or part of a name (`lookout devices`).
    #[arg(long, default_value = "high-performance")]
    adapter: String,
    /// f16 storage on the GPU (f32 arithmetic).
    #[arg(long)]
    f16: bool,
    /// Print one JSON object per picture (per frame for video) instead of a listing.
    #[arg(long)]
    json: bool,
    /// Write a PNG with boxes and labels drawn. With several pictures, `-<input>` and `-f<frame>`
    /// are added to the file name.
    #[arg(long, value_name = "OUT.png")]
    annotate: Option<PathBuf>,
    /// Video: run on every N-th frame only (frames 0, N, 2N, ...).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// Video: gate detection by motion as `lookout run` does (default `motion:` settings): each
    /// report (and each --annotate picture) shows the motion boxes, the regions detected and
    /// whether the frame was detected whole, in regions or skipped: tune `motion:` by looking.
    #[arg(long)]
    motion: bool,
    /// Model input size for models with a dynamic input (e.g. CenterFace: multiples of 32).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    size: Option<(u32, u32)>,
    /// PNG or JPEG pictures, or video files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT (e.g. 640x480)"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}` is not WIDTHxHEIGHT (e.g. 640x480)"))
    };
    Ok((num(w)?, num(h)?))
}

/// What motion gating decided on a frame, for reports and drawings.
#[derive(serde::Serialize)]
struct MotionView {
    /// `moving`, `still` or `calibrating`.
    state: &'static str,
    /// Motion boxes, frame pixels.
    boxes: Vec<[f32; 4]>,
    /// Regions detected, `[x1, y1, x2, y2]`.
    regions: Vec<[f32; 4]>,
    /// `full`, `regions` or `skipped`.
    detected: &'static str,
}

/// One decoded picture and where it came from.
struct Picture<'a> {
    input: &'a Path,
    /// Frame index for video inputs.
    frame: Option<u64>,
    image: ImageRef<'a>,
    /// Media time of a video frame.
    pts: Option<Duration>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Every input is looked at before the model is loaded: a directory or a GIF is an error at
    // once, whichever position it has.
    for input in &args.inputs {
        if !input.exists() {
            return Err(BadInput(format!("{}: no such file", input.display())).into());
        }
        input::check(input)?;
    }
    let mut manifest = ModelManifest::load(&args.model).map_err(|e| BadInput(e.to_string()))?;
    if let Some((w, h)) = args.size {
        manifest = manifest
            .with_input_size(w, h)
            .map_err(|e| BadInput(e.to_string()))?;
    }
    let opts = select::BackendOptions {
        adapter: select::adapter_choice(&args.adapter),
        precision: if args.f16 {
            Precision::F16
        } else {
            Precision::F32
        },
        max_batch: 1,
        ..select::BackendOptions::default()
    };
    let backend = select::create(args.backend, &manifest, &opts).map_err(|e| match e {
        SelectError::Infer(InferError::Run { .. } | InferError::Gpu(_)) => anyhow::Error::new(e),
        e => BadInput(e.to_string()).into(),
    })?;
    let mut detector = Detector::new(manifest, backend).map_err(|e| BadInput(e.to_string()))?;
    tracing::info!(
        model = %detector.manifest().name,
        backend = %detector.backend_info().backend,
        device = %detector.backend_info().device,
        "detector ready"
    );
    let several = args.inputs.len() > 1;
    let model_side = {
        let i = &detector.manifest().input;
        i.width.max(i.height)
    };
    let mut out = std::io::stdout().lock();
    for input in &args.inputs {
        let mut gate = args.motion.then(|| {
            let config = MotionConfig::default();
            (MotionDetector::new(config.clone()), MotionGate::new(config))
        });
        let mut previous: Vec<[f32; 4]> = Vec::new();
        let mut handle = |pic: Picture<'_>| -> anyhow::Result<()> {
            let (dets, view) = match (gate.as_mut(), pic.pts) {
                (Some((motion, g)), Some(t)) => {
                    let motion = motion.update(&pic.image);
                    let size = (pic.image.width, pic.image.height);
                    let plan = g.plan(
                        "detect",
                        Some(&motion),
                        size,
                        t,
                        &previous,
                        &[],
                        model_side,
                        true,
                    );
                    let (dets, regions, detected) = match &plan {
                        Plan::Skip(_) => (Vec::new(), Vec::new(), "skipped"),
                        Plan::Full(_) => {
                            (detect_one(&mut detector, &pic.image)?, Vec::new(), "full")
                        }
                        Plan::Regions(rs) => {
                            let mut all = Vec::new();
                            for r in rs {
                                let found = detect_one(&mut detector, &r.view(&pic.image))?;
                                all.extend(found.into_iter().map(|d| r.to_frame(d)));
                            }
                            (
                                nms::merge(all, 0.5),
                                rs.iter().map(|r| r.bbox()).collect(),
                                "regions",
                            )
                        }
                    };
                    if !matches!(plan, Plan::Skip(_)) {
                        previous = dets.iter().map(|d| d.bbox).collect();
                    }
                    let (state, boxes) = (motion.state.as_str(), motion.boxes);
                    let view = MotionView {
                        state,
                        boxes,
                        regions,
                        detected,
                    };
                    (dets, Some(view))
                }
                _ => (detect_one(&mut detector, &pic.image)?, None),
            };
            if pic.frame.is_some_and(|f| !f.is_multiple_of(args.every)) {
                return Ok(());
            }
            report(&mut out, &args, &pic, &dets, view.as_ref())?;
            if let Some(path) = &args.annotate {
                let path = annotated_path(path, several.then_some(pic.input), pic.frame);
                write_annotated(&path, &pic.image, &dets, view.as_ref())?;
            }
            Ok(())
        };
        match read_image(input)? {
            Some(rgba) => handle(Picture {
                input,
                frame: None,
                image: ImageRef::packed(
                    PixelFormat::Rgba,
                    rgba.width(),
                    rgba.height(),
                    rgba.as_raw(),
                ),
                pts: None,
            })?,
            // With motion every frame goes through the gate; --every only thins the reports.
            None => video::for_each_frame(
                input,
                if args.motion { 1 } else { args.every },
                |frame, pts, image| {
                    handle(Picture {
                        input,
                        frame: Some(frame),
                        image,
                        pts,
                    })
                },
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Detections on one picture.
fn detect_one(detector: &mut Detector, image: &ImageRef<'_>) -> anyhow::Result<Vec<Detection>> {
    Ok(detector
        .detect(std::slice::from_ref(image))
        .map_err(detect_error)?
        .into_iter()
        .next()
        .unwrap_or_default())
}

/// A model that does not match its manifest's decoder is bad input; a backend failure is not.
fn detect_error(e: DetectError) -> anyhow::Error {
    match e {
        DetectError::Infer(InferError::Image(_)) | DetectError::Infer(InferError::Run { .. }) => {
            anyhow::Error::new(e)
        }
        e => BadInput(e.to_string()).into(),
    }
}

/// The picture as RGBA when `path` is a PNG or JPEG file; `None` when it is a video; a clear
/// error (exit 2) for directories and picture formats lookout does not read.
fn read_image(path: &Path) -> anyhow::Result<Option<image::RgbaImage>> {
    match input::open(path) {
        Ok(FileInput::Picture(p)) => Ok(Some(p)),
        Ok(FileInput::Video) => Ok(None),
        Err(e) => Err(BadInput(e.to_string()).into()),
    }
}

/// JSON shape of one detection: label, score, box and landmarks in input pixels.
#[derive(serde::Serialize)]
struct JsonDetection<'a> {
    label: &'a str,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    landmarks: &'a [[f32; 2]],
}

/// JSON shape of one picture.
#[derive(serde::Serialize)]
struct JsonPicture<'a> {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    /// With --motion: what gating decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    motion: Option<&'a MotionView>,
    width: u32,
    height: u32,
    detections: Vec<JsonDetection<'a>>,
}

fn report(
    out: &mut impl Write,
    args: &Args,
    pic: &Picture<'_>,
    dets: &[Detection],
    motion: Option<&MotionView>,
) -> anyhow::Result<()> {
    if args.json {
        let doc = JsonPicture {
            input: pic.input.display().to_string(),
            frame: pic.frame,
            motion,
            width: pic.image.width,
            height: pic.image.height,
            detections: dets
                .iter()
                .map(|d| JsonDetection {
                    label: &d.label,
                    score: d.score,
                    bbox: d.bbox,
                    landmarks: &d.landmarks,
                })
                .collect(),
        };
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        let frame = pic.frame.map(|f| format!(" frame {f}")).unwrap_or_default();
        let gating = motion
            .map(|m| {
                format!(
                    " [motion {}, {} box{}, detected {}{}]",
                    m.state,
                    m.boxes.len(),
                    if m.boxes.len() == 1 { "" } else { "es" },
                    m.detected,
                    if m.regions.is_empty() {
                        String::new()
                    } else {
                        format!(" x{}", m.regions.len())
                    }
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{}{frame} ({}x{}): {} detection{}{gating}",
            pic.input.display(),
            pic.image.width,
            pic.image.height,
            dets.len(),
            if dets.len() == 1 { "" } else { "s" }
        )?;
        for d in dets {
            let [x1, y1, x2, y2] = d.bbox;
            write!(
                out,
                "  {:<12} {:.2}  [{x1:.0}, {y1:.0}, {x2:.0}, {y2:.0}]",
                d.label, d.score
            )?;
            if !d.landmarks.is_empty() {
                let pts: Vec<String> = d
                    .landmarks
                    .iter()
                    .map(|p| format!("({:.0}, {:.0})", p[0], p[1]))
                    .collect();
                write!(out, "  landmarks {}", pts.join(" "))?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `OUT.png`, or `OUT-<input stem>-f<frame>.png` when there are several pictures.
fn annotated_path(base: &Path, input: Option<&Path>, frame: Option<u64>) -> PathBuf {
    if input.is_none() && frame.is_none() {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap_or_default().to_string_lossy();
    let mut name = stem.into_owned();
    if let Some(i) = input {
        name.push('-');
        name.push_str(&i.file_stem().unwrap_or_default().to_string_lossy());
    }
    if let Some(f) = frame {
        name.push_str(&format!("-f{f:05}"));
    }
    name.push('.');
    name.push_str(&base.extension().unwrap_or("png".as_ref()).to_string_lossy());
    base.with_file_name(name)
}

/// Draws `dets` on a copy of the picture and writes it as PNG.
fn write_annotated(
    path: &Path,
    img: &ImageRef<'_>,
    dets: &[Detection],
    motion: Option<&MotionView>,
) -> anyhow::Result<()> {
    let (w, h) = (img.width, img.height);
    let mut rgba = vec![0u8; PixelFormat::Rgba.packed_len(w, h)];
    for y in 0..h as usize {
        let src = img.planes.offsets[0] + y * img.planes.strides[0];
        let row = w as usize * 4;
        rgba[y * row..(y + 1) * row].copy_from_slice(
            img.data
                .get(src..src + row)
                .context("picture buffer shorter than its size")?,
        );
    }
    let mut canvas = Canvas {
        data: &mut rgba,
        width: w,
        height: h,
    };
    if let Some(m) = motion {
        // Motion thin and yellow, regions detected thick and cyan, under the detections.
        for b in &m.boxes {
            canvas.rect(*b, 1, [255, 230, 0]);
        }
        for r in &m.regions {
            canvas.rect(*r, 3, [0, 230, 255]);
        }
        canvas.text(
            4,
            4,
            &format!("motion {} detected {}", m.state, m.detected),
            [0, 0, 0],
            [255, 230, 0],
        );
    }
    draw(&mut canvas, dets);
    image::save_buffer(path, &rgba, w, h, image::ExtendedColorType::Rgba8)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Video files: every N-th frame handed on, with a spinner on stderr.
mod video {
    use std::path::Path;
    use std::time::Duration;

    use lookout::capture::frame::ImageRef;

    /// Calls `f(frame_index, pts, picture)` for frames 0, every, 2 * every, ... of the video at
    /// `path`.
    pub fn for_each_frame(
        path: &Path,
        every: u64,
        mut f: impl FnMut(u64, Option<Duration>, ImageRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        // A spinner on stderr when it is a terminal (indicatif hides it otherwise).
        let progress = indicatif::ProgressBar::new_spinner();
        progress.set_message(format!("{}: decoding", path.display()));
        super::super::video::frames(path, |index, pts, image| {
            if index.is_multiple_of(25) {
                progress.set_message(format!("{}: frame {index}", path.display()));
                progress.tick();
            }
            if index.is_multiple_of(every) {
                progress.suspend(|| f(index, pts, image))?;
            }
            Ok(true)
        })?;
        progress.finish_and_clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("640x480"), Ok((640, 480)));
        assert!(parse_size("640").is_err());
        assert!(parse_size("ax480").is_err());
    }

    #[test]
    fn annotated_names() {
        let b = Path::new("out/a.png");
        assert_eq!(annotated_path(b, None, None), PathBuf::from("out/a.png"));
        assert_eq!(
            annotated_path(b, Some(Path::new("x/vtest.avi")), Some(300)),
            PathBuf::from("out/a-vtest-f00300.png")
        );
        assert_eq!(
            annotated_path(b, None, Some(7)),
            PathBuf::from("out/a-f00007.png")
        );
    }
}
