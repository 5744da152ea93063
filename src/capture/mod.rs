//! Capture: camera streams decoded by GStreamer into pooled frames on bounded queues.

pub mod frame;
#[cfg(feature = "capture")]
pub mod gst;
pub mod input;
pub mod pool;
pub mod queue;
pub mod source;
pub mod spec;
pub mod state;

pub use frame::{Frame, FrameNote, FrameView, ImageError, ImageRef, PixelFormat, Planes};
pub use pool::{BufferPool, PooledBuf};
pub use queue::{FramePrep, FrameReceiver, FrameSender, Offer, PrepSlot, Received, frame_queue};
pub use source::Source;
pub use spec::{CaptureSpec, QueuePolicy};
pub use state::{CameraState, StateCell};
