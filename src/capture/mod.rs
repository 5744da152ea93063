//! Capture: camera streams decoded by GStreamer into pooled frames.

pub mod frame;
pub mod pool;
pub mod source;

pub use frame::{Frame, ImageRef, PixelFormat, Planes};
pub use pool::{BufferPool, PooledBuf};
