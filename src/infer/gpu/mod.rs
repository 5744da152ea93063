//! The wgpu backend: context, kernels, static plans.
