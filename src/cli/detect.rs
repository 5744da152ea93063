//! `lookout detect --model models/<name>.yaml [--backend ...] [--json] [--annotate OUT.png] INPUT...`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lookout::capture::frame::{ImageRef, PixelFormat};
use lookout::detect::annotate::{Canvas, draw};
use lookout::detect::{DetectError, Detection};
use lookout::infer::InferError;
use lookout::infer::gpu::Precision;
use lookout::model::Detector;
use lookout::model::manifest::ModelManifest;
use lookout::model::select::{self, BackendKind, SelectError};

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

/// One decoded picture and where it came from.
struct Picture<'a> {
    input: &'a Path,
    /// Frame index for video inputs.
    frame: Option<u64>,
    image: ImageRef<'a>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    for input in &args.inputs {
        if !input.is_file() {
            return Err(BadInput(format!("{}: no such file", input.display())).into());
        }
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
    let mut out = std::io::stdout().lock();
    for input in &args.inputs {
        let mut handle = |pic: Picture<'_>| -> anyhow::Result<()> {
            let dets = detector
                .detect(std::slice::from_ref(&pic.image))
                .map_err(detect_error)?
                .into_iter()
                .next()
                .unwrap_or_default();
            report(&mut out, &args, &pic, &dets)?;
            if let Some(path) = &args.annotate {
                let path = annotated_path(path, several.then_some(pic.input), pic.frame);
                write_annotated(&path, &pic.image, &dets)?;
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
            })?,
            None => video::for_each_frame(input, args.every, |frame, image| {
                handle(Picture {
                    input,
                    frame: Some(frame),
                    image,
                })
            })?,
        }
    }
    Ok(ExitCode::SUCCESS)
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

/// The picture as RGBA when `path` is a PNG or JPEG file; `None` when it is something else.
fn read_image(path: &Path) -> anyhow::Result<Option<image::RgbaImage>> {
    let reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| BadInput(format!("{}: cannot read: {e}", path.display())))?;
    match reader.format() {
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {
            let img = reader
                .decode()
                .map_err(|e| BadInput(format!("{}: cannot decode image: {e}", path.display())))?;
            Ok(Some(img.to_rgba8()))
        }
        _ => Ok(None),
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
    width: u32,
    height: u32,
    detections: Vec<JsonDetection<'a>>,
}

fn report(
    out: &mut impl Write,
    args: &Args,
    pic: &Picture<'_>,
    dets: &[Detection],
) -> anyhow::Result<()> {
    if args.json {
        let doc = JsonPicture {
            input: pic.input.display().to_string(),
            frame: pic.frame,
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
        writeln!(
            out,
            "{}{frame} ({}x{}): {} detection{}",
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
fn write_annotated(path: &Path, img: &ImageRef<'_>, dets: &[Detection]) -> anyhow::Result<()> {
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
    draw(
        &mut Canvas {
            data: &mut rgba,
            width: w,
            height: h,
        },
        dets,
    );
    image::save_buffer(path, &rgba, w, h, image::ExtendedColorType::Rgba8)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Video files: decoded with GStreamer to RGBA, every N-th frame handed on.
#[cfg(feature = "capture")]
mod video {
    use std::path::Path;

    use anyhow::Context;
    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;
    use gstreamer_video as gst_video;
    use lookout::capture::frame::{ImageRef, PixelFormat, Planes};

    use super::BadInput;

    /// Calls `f(frame_index, picture)` for frames 0, every, 2 * every, ... of the video at `path`.
    pub fn for_each_frame(
        path: &Path,
        every: u64,
        mut f: impl FnMut(u64, ImageRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        gst::init().context("cannot initialise GStreamer")?;
        let pipeline = gst::parse::launch(
            "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGBA ! \
             appsink name=sink sync=false max-buffers=2",
        )
        .context("cannot build the decoding pipeline")?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("the decoding pipeline is not a pipeline"))?;
        let run = Running(pipeline);
        let src = run.0.by_name("src").context("no filesrc")?;
        src.set_property("location", path.to_string_lossy().as_ref());
        let sink = run
            .0
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .context("no appsink")?;
        let not_video = |why: String| {
            BadInput(format!(
                "{}: not a PNG or JPEG picture, and cannot be decoded as video: {why}",
                path.display()
            ))
        };
        run.0
            .set_state(gst::State::Playing)
            .map_err(|e| not_video(e.to_string()))?;
        let bus = run.0.bus().context("pipeline without a bus")?;
        // A spinner on stderr when it is a terminal (indicatif hides it otherwise).
        let progress = indicatif::ProgressBar::new_spinner();
        progress.set_message(format!("{}: decoding", path.display()));
        let mut index = 0u64;
        loop {
            if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                && let gst::MessageView::Error(e) = msg.view()
            {
                let detail = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                return Err(not_video(format!("{}{detail}", e.error())).into());
            }
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
                if sink.is_eos() {
                    break;
                }
                continue;
            };
            let i = index;
            index += 1;
            if i.is_multiple_of(25) {
                progress.set_message(format!("{}: frame {i}", path.display()));
                progress.tick();
            }
            if !i.is_multiple_of(every) {
                continue;
            }
            let caps = sample.caps().context("frame without caps")?;
            let info = gst_video::VideoInfo::from_caps(caps).context("frame caps")?;
            let buffer = sample.buffer().context("sample without buffer")?;
            let map = buffer.map_readable().context("cannot map frame")?;
            let stride = usize::try_from(info.stride()[0]).context("negative stride")?;
            let image = ImageRef {
                format: PixelFormat::Rgba,
                width: info.width(),
                height: info.height(),
                planes: Planes {
                    offsets: [info.offset()[0], 0],
                    strides: [stride, 0],
                },
                data: map.as_slice(),
            };
            progress.suspend(|| f(i, image))?;
        }
        progress.finish_and_clear();
        if index == 0 {
            return Err(not_video("no video frames".into()).into());
        }
        Ok(())
    }

    /// Stops the pipeline however the loop ends.
    struct Running(gst::Pipeline);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.set_state(gst::State::Null);
        }
    }
}

#[cfg(not(feature = "capture"))]
mod video {
    use std::path::Path;

    use lookout::capture::frame::ImageRef;

    use super::BadInput;

    /// Without GStreamer only pictures can be read.
    pub fn for_each_frame(
        path: &Path,
        _every: u64,
        _f: impl FnMut(u64, ImageRef<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        Err(BadInput(format!(
            "{}: not a PNG or JPEG picture (video needs a build with the `capture` feature)",
            path.display()
        ))
        .into())
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
