//! Where a camera's motion pass runs: on the CPU in the camera's own thread (the default), or,
//! with `motion.gpu`, on a GPU shared by every camera that names the same adapter (one
//! [`GpuMotion`] per adapter, the cameras' threads taking turns on it). A GPU that fails is
//! logged and counted, and the camera goes on with the CPU pass.

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::IntCounter;

use crate::capture::frame::ImageRef;
use crate::infer::InferError;
use crate::infer::gpu::motion::{GpuMotion, MotionSlot};
use crate::model::select::{adapter_choice, gpu_context};
use crate::motion::{Motion, MotionConfig, MotionDetector};

/// A camera's motion pass, on the engine its settings name.
pub(crate) enum CameraMotion {
    Cpu(MotionDetector),
    Gpu(GpuCamera),
}

/// A camera's place on a shared GPU motion engine (given back when dropped).
pub(crate) struct GpuCamera {
    engine: Arc<Mutex<GpuMotion>>,
    slot: MotionSlot,
    config: MotionConfig,
    camera: String,
    failures: IntCounter,
}

impl Drop for GpuCamera {
    fn drop(&mut self) {
        lock(&self.engine).remove(self.slot);
    }
}

impl CameraMotion {
    /// The pass `config` asks for; the CPU's (with a warning) when its GPU cannot be opened.
    pub fn new(config: &MotionConfig, camera: &str, failures: IntCounter) -> Self {
        let Some(adapter) = &config.gpu else {
            return CameraMotion::Cpu(MotionDetector::new(config.clone()));
        };
        match shared_engine(adapter) {
            Ok(engine) => {
                let slot = lock(&engine).add(config.clone());
                CameraMotion::Gpu(GpuCamera {
                    engine,
                    slot,
                    config: config.clone(),
                    camera: camera.to_string(),
                    failures,
                })
            }
            Err(e) => {
                tracing::warn!(
                    camera,
                    adapter = %adapter,
                    error = %e,
                    "motion.gpu: this GPU cannot run the motion pass; the camera runs it on the CPU"
                );
                failures.inc();
                CameraMotion::Cpu(MotionDetector::new(config.clone()))
            }
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &MotionConfig {
        match self {
            CameraMotion::Cpu(d) => d.config(),
            CameraMotion::Gpu(g) => &g.config,
        }
    }

    /// Motion on `image` against the camera's background, which then learns from it.
    pub fn update(&mut self, image: &ImageRef<'_>) -> Motion {
        let failed = match self {
            CameraMotion::Cpu(d) => return d.update(image),
            CameraMotion::Gpu(g) => {
                match lock(&g.engine)
                    .update(&[(g.slot, *image)])
                    .and_then(|mut m| m.pop().ok_or_else(|| InferError::Other("no motion".into())))
                {
                    Ok(m) => return m,
                    Err(e) => {
                        tracing::error!(
                            camera = %g.camera,
                            error = %e,
                            "motion pass on the GPU failed; the camera runs it on the CPU from now on"
                        );
                        g.failures.inc();
                        g.config.clone()
                    }
                }
            }
        };
        let mut cpu = MotionDetector::new(failed);
        let m = cpu.update(image);
        *self = CameraMotion::Cpu(cpu);
        m
    }
}

/// The GPU motion engine of `adapter`, opened on first use and shared from then on.
fn shared_engine(adapter: &str) -> Result<Arc<Mutex<GpuMotion>>, InferError> {
    type Engines = Vec<(String, Arc<Mutex<GpuMotion>>)>;
    static ENGINES: Mutex<Engines> = Mutex::new(Vec::new());
    let key = adapter.trim().to_ascii_lowercase();
    let mut all = ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, e)) = all.iter().find(|(k, _)| *k == key) {
        return Ok(e.clone());
    }
    let ctx = gpu_context(&adapter_choice(adapter))?;
    let engine = Arc::new(Mutex::new(GpuMotion::new(&ctx)?));
    tracing::info!(adapter = %ctx.summary().name, "motion passes run on the GPU");
    if ctx.is_software() {
        tracing::warn!(
            adapter = %ctx.summary().name,
            "motion.gpu: this adapter is a software renderer; its kernels take processor time \
             too, more than the CPU pass would (leave motion.gpu unset on this machine)"
        );
    }
    all.push((key, engine.clone()));
    Ok(engine)
}

fn lock(engine: &Mutex<GpuMotion>) -> std::sync::MutexGuard<'_, GpuMotion> {
    engine.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gpu_that_cannot_be_opened_leaves_the_pass_on_the_cpu_and_is_counted() {
        let failures = IntCounter::new("failures", "test").expect("a valid counter");
        let config = MotionConfig {
            gpu: Some("no adapter is called this 9000".into()),
            ..MotionConfig::default()
        };
        let mut m = CameraMotion::new(&config, "cam", failures.clone());
        assert!(matches!(m, CameraMotion::Cpu(_)));
        assert_eq!(failures.get(), 1);
        assert_eq!(m.config(), &config, "the settings are kept");
        let frame = vec![90u8; crate::capture::PixelFormat::Nv12.packed_len(64, 48)];
        let image = ImageRef::packed(crate::capture::PixelFormat::Nv12, 64, 48, &frame);
        assert_eq!(
            m.update(&image).state,
            crate::motion::MotionState::Calibrating
        );
    }
}
