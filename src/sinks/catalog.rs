//! What a pipeline can report, per camera: the labels, zones and lines that sinks announce
//! (Home Assistant discovery) before any event arrives.

/// Per-camera names known from the pipeline file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraCatalog {
    pub name: String,
    /// Labels the camera's detector keeps (e.g. person, car).
    pub labels: Vec<String>,
    pub zones: Vec<String>,
    pub lines: Vec<String>,
}

/// Everything sinks may announce up front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub cameras: Vec<CameraCatalog>,
}
