//! A detector: a model manifest, a backend that runs the model, and the decoder for its outputs.

use super::manifest::ModelManifest;
use crate::capture::frame::ImageRef;
use crate::detect::decoder::PostProcess;
use crate::detect::{Decoder, DetectError, Detection};
use crate::infer::{Backend, BackendInfo, InferOutput};

/// Pictures in, detections in frame pixels out, on whichever backend was chosen.
pub struct Detector {
    manifest: ModelManifest,
    backend: Box<dyn Backend>,
    decoder: Decoder,
    post: PostProcess,
}

impl Detector {
    /// Prepares the decoder of `manifest` (anchors, grids) for a backend already loaded with its
    /// model (so the detector keeps no copy of the ONNX bytes).
    pub fn new(
        mut manifest: ModelManifest,
        backend: Box<dyn Backend>,
    ) -> Result<Self, DetectError> {
        manifest.forget_onnx();
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
        let found = outputs.iter().map(|o| self.decode(o)).collect();
        self.recycle(outputs);
        found
    }

    /// Hands decoded outputs back to the backend, whose next run reuses their memory.
    pub fn recycle(&mut self, outputs: Vec<InferOutput>) {
        for o in outputs {
            self.backend.recycle(o.outputs);
        }
    }

    /// Decodes one picture's raw outputs: threshold, class filter, NMS, mapping to the frame.
    pub fn decode(&self, output: &InferOutput) -> Result<Vec<Detection>, DetectError> {
        decode_one(&self.decoder, &self.post, output)
    }

    /// Decodes a batch's outputs, one result per picture in order, spread over the CPU cores when
    /// the batch is large enough to pay for the threads: with many cameras per GPU, decoding on
    /// one thread would otherwise cap the frames per second the GPU can be fed.
    pub fn decode_all(&self, outputs: &[InferOutput]) -> Vec<Result<Vec<Detection>, DetectError>> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(outputs.len() / PICTURES_PER_THREAD);
        let (decoder, post) = (&self.decoder, &self.post);
        if threads <= 1 {
            return outputs
                .iter()
                .map(|o| decode_one(decoder, post, o))
                .collect();
        }
        let chunk = outputs.len().div_ceil(threads);
        std::thread::scope(|s| {
            let running: Vec<_> = outputs
                .chunks(chunk)
                .map(|c| {
                    let handle = s.spawn(move || {
                        c.iter()
                            .map(|o| decode_one(decoder, post, o))
                            .collect::<Vec<_>>()
                    });
                    (c.len(), handle)
                })
                .collect();
            running
                .into_iter()
                .flat_map(|(n, h)| {
                    h.join().unwrap_or_else(|_| {
                        (0..n)
                            .map(|_| {
                                Err(DetectError::Spec {
                                    decoder: decoder.kind(),
                                    message: "the decoding thread panicked".into(),
                                })
                            })
                            .collect()
                    })
                })
                .collect()
        })
    }
}

/// Fewest pictures worth a decoding thread of their own (a NanoDet picture takes ~0.1 ms).
const PICTURES_PER_THREAD: usize = 4;

fn decode_one(
    decoder: &Decoder,
    post: &PostProcess,
    output: &InferOutput,
) -> Result<Vec<Detection>, DetectError> {
    let candidates = decoder.candidates(&output.outputs, post.score_threshold)?;
    Ok(post.finish(candidates, &output.transform))
}
