//! Opening a GPU: adapter choice, device features and limits, and the adapter list for
//! `lookout devices`.

use std::sync::{Arc, Mutex};

use super::shader::PipelineCache;
use crate::infer::InferError;

/// Which adapter to run on (from the pipeline file or the command line).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AdapterChoice {
    /// The fastest adapter (usually the discrete GPU).
    #[default]
    HighPerformance,
    /// The most power-efficient adapter (usually the integrated GPU).
    LowPower,
    /// The first adapter whose name contains this text (case-insensitive).
    Named(String),
}

/// What `lookout devices` and the logs say about an adapter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    /// Vulkan, Metal, Dx12, Gl.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other.
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// `shader-f16` arithmetic is available.
    pub f16: bool,
    /// Timestamp queries are available (per-kernel profiling).
    pub timestamps: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            f16: features.contains(wgpu::Features::SHADER_F16),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// True for CPU implementations of the GPU APIs (lavapipe, llvmpipe, SwiftShader, WARP):
    /// `backend: auto` prefers the OpenCV CPU fallback over these.
    pub fn is_software(&self) -> bool {
        let name = self.name.to_lowercase();
        let driver = self.driver.to_lowercase();
        self.device_type == "Cpu"
            || [
                "llvmpipe",
                "lavapipe",
                "swiftshader",
                "softpipe",
                "microsoft basic render",
            ]
            .iter()
            .any(|s| name.contains(s) || driver.contains(s))
    }
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Every adapter wgpu can see, for `lookout devices`.
pub fn list_adapters() -> Vec<AdapterSummary> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(AdapterSummary::of)
        .collect()
}

/// An opened device and queue with what the engine needs to know about them.
///
/// Cheap to clone (the device and queue are reference-counted); one per GPU, shared by models.
#[derive(Clone)]
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    summary: AdapterSummary,
    pub(crate) limits: wgpu::Limits,
    pub(crate) features: wgpu::Features,
    /// The last uncaptured wgpu error, reported by the next call instead of panicking.
    pub(crate) error: Arc<Mutex<Option<String>>>,
    /// Compiled kernels, shared by every model on this device.
    pub(crate) pipelines: Arc<PipelineCache>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.summary)
            .finish()
    }
}

impl GpuContext {
    /// Opens the adapter `choice` names, with f16 and timestamp features when available.
    pub fn new(choice: &AdapterChoice) -> Result<Self, InferError> {
        let instance = instance();
        let adapter = match choice {
            AdapterChoice::Named(want) => {
                let want = want.to_lowercase();
                let all = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
                let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
                all.into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&want))
                    .ok_or_else(|| {
                        InferError::Gpu(format!(
                            "no adapter named like {want:?}; adapters: {names:?}"
                        ))
                    })?
            }
            _ => {
                let power_preference = if *choice == AdapterChoice::LowPower {
                    wgpu::PowerPreference::LowPower
                } else {
                    wgpu::PowerPreference::HighPerformance
                };
                pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference,
                    ..Default::default()
                }))
                .map_err(|e| InferError::Gpu(format!("no GPU adapter found: {e}")))?
            }
        };
        Self::open(&adapter)
    }

    fn open(adapter: &wgpu::Adapter) -> Result<Self, InferError> {
        let summary = AdapterSummary::of(adapter);
        let wanted = wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("lookout"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| InferError::Gpu(format!("cannot open {}: {e}", summary.name)))?;
        let error = Arc::new(Mutex::new(None));
        let sink = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!("wgpu: {e}");
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        tracing::info!(
            adapter = %summary.name,
            backend = %summary.backend,
            f16 = summary.f16,
            timestamps = summary.timestamps,
            "GPU opened"
        );
        Ok(GpuContext {
            device,
            queue,
            summary,
            limits,
            features,
            error,
            pipelines: Arc::new(PipelineCache::default()),
        })
    }

    /// What the adapter is.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// True for software rasterizers (lavapipe, llvmpipe, SwiftShader, ...).
    pub fn is_software(&self) -> bool {
        self.summary.is_software()
    }

    /// Largest buffer one kernel can bind: what a batch of frames or a tensor must fit in.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size
    }

    /// True when per-kernel timing is possible.
    pub fn supports_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Returns (and clears) an error wgpu reported asynchronously.
    pub(crate) fn take_error(&self) -> Result<(), InferError> {
        match self.error.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(InferError::Gpu(e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, ty: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: ty.into(),
            driver: String::new(),
            driver_info: String::new(),
            f16: false,
            timestamps: false,
        }
    }

    #[test]
    fn software_adapters_are_recognized() {
        assert!(summary("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu").is_software());
        assert!(summary("SwiftShader Device", "Other").is_software());
        assert!(!summary("NVIDIA H100 80GB HBM3", "DiscreteGpu").is_software());
    }
}
