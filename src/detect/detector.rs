//! A detector: a model manifest, a backend that runs the model, and the decoder for its outputs.

use crate::capture::frame::ImageRef;
use crate::infer::manifest::ModelManifest;
use crate::infer::{Backend, BackendInfo, InferOutput};

use super::decoder::PostProcess;
use super::{Decoder, DetectError, Detection};

/// Pictures in, detections in frame pixels out, on whichever backend was chosen.
pub struct Detector {
    manifest: ModelManifest,
    backend: Box<dyn Backend>,
    decoder: Decoder,
    post: PostProcess,
}

impl Detector {
    /// Prepares the decoder of `manifest` (anchors, grids) for a backend already loaded with its model.
    pub fn new(manifest: ModelManifest, backend: Box<dyn Backend>) -> Result<Self, DetectError> {
        let decoder = Decoder::new(&manifest.decoder, manifest.geometry())?;
        let post = manifest.post_process();
        Ok(Self {
            manifest,
            backend,
            decoder,
            post,
        })
    }

    /// The model this detector runs.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The backend and device it runs on.
    pub fn backend_info(&self) -> BackendInfo {
        self.backend.info()
    }

    /// Raw model outputs for each picture (pre-processing and inference, no decoding), so callers
    /// can time the stages apart; follow with [`Detector::decode`].
    pub fn infer(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<InferOutput>, DetectError> {
        Ok(self.backend.infer(images)?)
    }

    /// Detections for each picture, in that picture's pixels.
    pub fn detect(&mut self, images: &[ImageRef<'_>]) -> Result<Vec<Vec<Detection>>, DetectError> {
        let outputs = self.backend.infer(images)?;
        outputs.iter().map(|o| self.decode(o)).collect()
    }

    /// Decodes one picture's raw outputs: threshold, class filter, NMS, mapping to the frame.
    pub fn decode(&self, output: &InferOutput) -> Result<Vec<Detection>, DetectError> {
        let candidates = self
            .decoder
            .candidates(&output.outputs, self.post.score_threshold)?;
        Ok(self.post.finish(candidates, &output.transform))
    }
}
