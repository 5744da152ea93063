//! `backend: auto` by measurement, not by guess: a weak integrated GPU can lose to a good CPU
//! runtime and the other way round. At start-up every usable backend (software GPU adapters
//! excluded) runs a few warm inferences of the model on a frame; the fastest wins, the figures
//! are logged, and the choice is cached per model, input size and devices in `state_dir`, so the
//! next start goes straight to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::manifest::ModelManifest;
use super::select::{self, BackendKind, BackendOptions, SelectError};
use crate::capture::frame::{ImageRef, PixelFormat};
use crate::infer::Backend;

/// File in `state_dir` that holds the measured choices.
pub const CACHE_FILE: &str = "backend-choice.json";
/// Untimed calls before timing: plans, caches and thread pools settle.
const WARM_UP: usize = 2;
/// Timed calls per backend; the median counts.
const TIMED: usize = 5;
/// Size of the frame the candidates are timed on (pre-processing included, as in a real run).
const FRAME: (u32, u32) = (1280, 720);

/// One backend `auto` may take, and what names its device in the cache key.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The backend, by the name `backend:` takes.
    pub kind: BackendKind,
    /// E.g. `wgpu NVIDIA H100`, `onnxruntime 1.32.0`, `opencv 4.6.0`.
    pub device: String,
}

/// A cached choice: what won, and what each candidate measured (ms per frame).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The backend that was fastest (`wgpu`, `onnxruntime`, `opencv`).
    pub backend: String,
    /// Median ms per frame of each candidate, by backend name.
    pub ms: BTreeMap<String, f64>,
}

/// The backends `auto` can choose from here, in order of preference on a tie: a hardware GPU
/// through wgpu, then the CPU engines `cpu` would take.
pub fn candidates(opts: &BackendOptions) -> Vec<Candidate> {
    let mut out = Vec::new();
    match select::gpu_context(&opts.adapter) {
        Ok(ctx) if !ctx.is_software() => out.push(Candidate {
            kind: BackendKind::Wgpu,
            device: format!("wgpu {}", ctx.summary().name),
        }),
        Ok(ctx) => {
            tracing::debug!(adapter = %ctx.summary().name, "auto: a software adapter is not a candidate")
        }
        Err(e) => tracing::debug!(error = %e, "auto: no GPU adapter"),
    }
    let cpu = cpu_name();
    for e in select::cpu_engines().into_iter().filter(|e| e.available) {
        let kind = match e.engine {
            "onnxruntime" => BackendKind::Onnxruntime,
            _ => BackendKind::Opencv,
        };
        out.push(Candidate {
            kind,
            device: format!("{} {} on {cpu}", e.engine, e.version.unwrap_or_default()),
        });
    }
    out
}

/// The processor's model name (Linux), part of the cache key of the CPU engines.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// What the cache remembers a choice by: the model's checksum, input size, batch and devices.
pub fn cache_key(manifest: &ModelManifest, opts: &BackendOptions, found: &[Candidate]) -> String {
    let devices: Vec<&str> = found.iter().map(|c| c.device.as_str()).collect();
    format!(
        "{} {}x{} batch {} [{}]",
        manifest.sha256,
        manifest.input.width,
        manifest.input.height,
        opts.max_batch.max(1),
        devices.join(", ")
    )
}

/// Loads the model on the fastest usable backend (measured now, or as measured before).
pub fn create(
    manifest: &ModelManifest,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>, SelectError> {
    let found = candidates(opts);
    match found.as_slice() {
        [] => {
            return Err(SelectError::NoBackend(
                "no hardware GPU adapter and no CPU engine in this build".into(),
            ));
        }
        [only] => return select::create_checked(only.kind, manifest, opts),
        _ => {}
    }
    let key = cache_key(manifest, opts, &found);
    let cache = opts.state_dir.as_deref().map(|d| d.join(CACHE_FILE));
    if let Some(choice) = cache.as_deref().and_then(|p| read_cache(p).remove(&key))
        && let Some(c) = found.iter().find(|c| c.kind.name() == choice.backend)
    {
        tracing::info!(model = %manifest.name, backend = %choice.backend, measured_ms = ?choice.ms, "auto: the backend measured fastest before");
        match select::create_checked(c.kind, manifest, opts) {
            Ok(b) => return Ok(b),
            Err(e) => {
                tracing::warn!(error = %e, "auto: the cached choice fails now; measuring again")
            }
        }
    }
    let mut best: Option<(f64, Box<dyn Backend>)> = None;
    let mut ms = BTreeMap::new();
    let mut last_error = None;
    for c in &found {
        let measured = select::create_checked(c.kind, manifest, opts)
            .and_then(|mut b| Ok((time(b.as_mut(), manifest)?, b)));
        match measured {
            Ok((t, b)) => {
                ms.insert(c.kind.name().to_string(), t);
                if best.as_ref().is_none_or(|(fastest, _)| t < *fastest) {
                    best = Some((t, b));
                }
            }
            Err(e) => {
                tracing::warn!(backend = c.kind.name(), error = %e, "auto: a candidate fails");
                last_error = Some(e);
            }
        }
    }
    let Some((_, backend)) = best else {
        return Err(last_error.unwrap_or_else(|| SelectError::NoBackend("no candidate".into())));
    };
    let choice = Choice {
        backend: backend.info().backend,
        ms,
    };
    tracing::info!(model = %manifest.name, backend = %choice.backend, measured_ms = ?choice.ms, "auto: measured each backend, took the fastest");
    if let Some(path) = cache
        && let Err(e) = write_cache(&path, key, choice)
    {
        tracing::warn!(path = %path.display(), error = %e, "auto: cannot cache the choice");
    }
    Ok(backend)
}

/// Median ms of [`TIMED`] warm calls on a mid-grey frame, pre-processing included.
fn time(backend: &mut dyn Backend, manifest: &ModelManifest) -> Result<f64, SelectError> {
    let (w, h) = FRAME;
    let data = vec![128u8; PixelFormat::Nv12.packed_len(w, h)];
    let frame = ImageRef::packed(PixelFormat::Nv12, w, h, &data);
    for _ in 0..WARM_UP {
        backend.infer(&[frame])?;
    }
    let mut times = Vec::with_capacity(TIMED);
    for _ in 0..TIMED {
        let t = Instant::now();
        backend.infer(&[frame])?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    tracing::debug!(model = %manifest.name, backend = %backend.info().backend, ?times, "auto: timed");
    Ok(times[TIMED / 2])
}

/// The cached choices; none when the file is missing or unreadable (it is only a cache).
pub fn read_cache(path: &Path) -> BTreeMap<String, Choice> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Adds `choice` under `key`, writing a temporary file and renaming it over the old one.
fn write_cache(path: &Path, key: String, choice: Choice) -> std::io::Result<()> {
    let mut all = read_cache(path);
    all.insert(key, choice);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&all)?)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_tells_sizes_batches_and_devices_apart() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/centerface.yaml");
        let m = ModelManifest::load(&path).unwrap();
        let small = m.clone().with_input_size(320, 256).unwrap();
        let opts = BackendOptions::default();
        let cpu = [Candidate {
            kind: BackendKind::Onnxruntime,
            device: "onnxruntime 1.32.0 on some CPU".into(),
        }];
        let key = cache_key(&m, &opts, &cpu);
        assert!(key.starts_with(&m.sha256), "{key}");
        assert_ne!(key, cache_key(&small, &opts, &cpu));
        let batch4 = BackendOptions {
            max_batch: 4,
            ..BackendOptions::default()
        };
        assert_ne!(key, cache_key(&m, &batch4, &cpu));
        let gpu = [Candidate {
            kind: BackendKind::Wgpu,
            device: "wgpu Some GPU".into(),
        }];
        assert_ne!(key, cache_key(&m, &opts, &gpu));
    }

    #[test]
    fn a_missing_or_broken_cache_is_empty_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(CACHE_FILE);
        assert!(read_cache(&path).is_empty());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{ not json").unwrap();
        assert!(read_cache(&path).is_empty());
        let choice = Choice {
            backend: "opencv".into(),
            ms: BTreeMap::from([("opencv".to_string(), 1.5)]),
        };
        write_cache(&path, "k".into(), choice.clone()).unwrap();
        assert_eq!(read_cache(&path).get("k"), Some(&choice));
    }
}
