//! The local page (`ui:`): what lookout sees, drawn from metadata only, and zones, lines and
//! masks drawn on it and written into the pipeline file. Static HTML, CSS and JavaScript are
//! embedded in the binary; the data comes from JSON endpoints and one event stream.

mod assets;
pub mod config;
pub mod edit;
pub mod feed;
pub mod overview;
pub mod server;

pub use config::{UiConfig, UiSpec};
pub use feed::{Feed, FeedWriter, FrameInput, LayoutView};
pub use server::{UiContext, UiError, UiServer};
