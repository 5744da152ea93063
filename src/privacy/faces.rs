//! Finding the faces to redact: a face model (CenterFace or BlazeFace) run on the very frame
//! that is about to be stored.

use super::{FaceModelError, PrivacyError};
use crate::capture::frame::ImageRef;
use crate::detect::Detection;
use crate::model::select::{self, BackendKind, BackendOptions};
use crate::model::{Detector, ModelManifest, ModelSpec};

/// A face detector for redaction.
pub struct FaceFinder {
    detector: Detector,
}

impl std::fmt::Debug for FaceFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceFinder")
            .field("model", &self.detector.manifest().name)
            .finish()
    }
}

/// Whether a model reports faces (the label `face`).
pub fn detects_faces(manifest: &ModelManifest) -> bool {
    manifest.labels.iter().any(|l| &**l == "face")
}

impl FaceFinder {
    /// Loads `manifest` on the backend `kind` names.
    pub fn new(
        manifest: ModelManifest,
        kind: BackendKind,
        opts: &BackendOptions,
    ) -> Result<Self, PrivacyError> {
        let name = manifest.name.clone();
        let fail = |cause: FaceModelError| PrivacyError::FaceModel {
            model: name.clone(),
            cause,
        };
        if !detects_faces(&manifest) {
            return Err(fail(FaceModelError::NotFaces));
        }
        let backend = select::create(kind, &manifest, opts).map_err(|e| fail(e.into()))?;
        let detector = Detector::new(manifest, backend).map_err(|e| fail(e.into()))?;
        Ok(FaceFinder { detector })
    }

    /// Loads a model of the pipeline's `models:` section, on its backend.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self, PrivacyError> {
        let opts = BackendOptions {
            max_batch: 1,
            ..spec.backend_options()
        };
        Self::new(spec.manifest.clone(), spec.backend, &opts)
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.detector.manifest().name
    }

    /// Where it runs, for logs.
    pub fn backend(&self) -> String {
        let info = self.detector.backend_info();
        format!("{} on {}", info.backend, info.device)
    }

    /// The faces on `image`, in its pixels.
    pub fn find(&mut self, image: &ImageRef<'_>) -> Result<Vec<Detection>, PrivacyError> {
        let found = self
            .detector
            .detect(std::slice::from_ref(image))
            .map_err(|e| PrivacyError::FaceModel {
                model: self.detector.manifest().name.clone(),
                cause: e.into(),
            })?;
        Ok(found
            .into_iter()
            .flatten()
            .filter(|d| &*d.label == "face")
            .collect())
    }
}
