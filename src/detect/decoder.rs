//! The decoder a manifest names, prepared once per model (anchors, grids), run on every output.

use std::sync::Arc;

use serde::Deserialize;

use crate::infer::NamedTensor;
use crate::infer::preprocess::BoxTransform;

use super::blazeface::{BlazeFace, BlazeFaceSpec};
use super::centerface::{self, CenterFaceSpec};
use super::nanodet::{self, NanoDetSpec};
use super::ssd::{Ssd, SsdSpec};
use super::yolo::{self, YoloSpec, Yolox, YoloxSpec};
use super::{DetectError, Detection, nms};

/// A raw detection in model-input pixels, before class filtering, NMS and mapping to the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub class_id: u32,
    pub score: f32,
    /// `[x1, y1, x2, y2]` in model-input pixels.
    pub bbox: [f32; 4],
    /// Keypoints in model-input pixels.
    pub landmarks: Vec<[f32; 2]>,
}

/// The `decoder:` section of a model manifest: which output format the model has, and its parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum DecoderSpec {
    /// CenterFace: stride-4 heatmap, scale, offset and 5 landmarks.
    Centerface(CenterFaceSpec),
    /// NanoDet (GFL head): per-level class scores and distance distributions.
    Nanodet(NanoDetSpec),
    /// MediaPipe BlazeFace: SSD-style anchors computed from strides, 6 keypoints.
    Blazeface(BlazeFaceSpec),
    /// TF Object Detection API SSD: anchors from a `.npy` file, box encodings with scale factors.
    Ssd(SsdSpec),
    /// Ultralytics YOLOv8/YOLOv11 export: `[1, 4+C, N]` (cx, cy, w, h, class scores).
    Yolov8(YoloSpec),
    /// YOLOv5/YOLOv7 export: `[1, N, 5+C]` (cx, cy, w, h, objectness, class scores).
    Yolov5(YoloSpec),
    /// YOLOX export without decoding in the graph: `[1, N, 5+C]` on grids of the given strides.
    Yolox(YoloxSpec),
}

impl DecoderSpec {
    /// Short name for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            DecoderSpec::Centerface(_) => "centerface",
            DecoderSpec::Nanodet(_) => "nanodet",
            DecoderSpec::Blazeface(_) => "blazeface",
            DecoderSpec::Ssd(_) => "ssd",
            DecoderSpec::Yolov8(_) => "yolov8",
            DecoderSpec::Yolov5(_) => "yolov5",
            DecoderSpec::Yolox(_) => "yolox",
        }
    }

    /// Names of the model outputs this decoder reads, so backends can fetch exactly those.
    pub fn output_names(&self) -> Vec<String> {
        match self {
            DecoderSpec::Centerface(s) => vec![
                s.heatmap.clone(),
                s.scale.clone(),
                s.offset.clone(),
                s.landmarks.clone(),
            ],
            DecoderSpec::Nanodet(s) => s
                .levels
                .iter()
                .flat_map(|l| [l.scores.clone(), l.boxes.clone()])
                .collect(),
            DecoderSpec::Blazeface(s) => vec![s.regressors.clone(), s.classificators.clone()],
            DecoderSpec::Ssd(s) => vec![s.boxes.clone(), s.scores.clone()],
            DecoderSpec::Yolov8(s) | DecoderSpec::Yolov5(s) => vec![s.output.clone()],
            DecoderSpec::Yolox(s) => vec![s.output.clone()],
        }
    }
}

/// Everything a decoder needs to know about the model besides its outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelGeometry {
    /// Model input width in pixels.
    pub width: u32,
    /// Model input height in pixels.
    pub height: u32,
    /// Number of labels (classes) the model has.
    pub classes: usize,
}

/// A decoder ready to run: the spec plus whatever it precomputes (anchors, grids).
#[derive(Debug, Clone)]
pub struct Decoder {
    kind: Prepared,
    geometry: ModelGeometry,
}

#[derive(Debug, Clone)]
enum Prepared {
    CenterFace(CenterFaceSpec),
    NanoDet(NanoDetSpec),
    BlazeFace(BlazeFace),
    Ssd(Ssd),
    Yolov8(YoloSpec),
    Yolov5(YoloSpec),
    Yolox(Yolox),
}

impl Decoder {
    /// Short name for messages.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            Prepared::CenterFace(_) => "centerface",
            Prepared::NanoDet(_) => "nanodet",
            Prepared::BlazeFace(_) => "blazeface",
            Prepared::Ssd(_) => "ssd",
            Prepared::Yolov8(_) => "yolov8",
            Prepared::Yolov5(_) => "yolov5",
            Prepared::Yolox(_) => "yolox",
        }
    }

    /// Prepares `spec` for a model of the given geometry (reads anchor files, computes grids).
    pub fn new(spec: &DecoderSpec, geometry: ModelGeometry) -> Result<Self, DetectError> {
        if geometry.classes == 0 || geometry.width == 0 || geometry.height == 0 {
            return Err(DetectError::Spec {
                decoder: spec.kind(),
                message: format!(
                    "needs at least one label and a positive input size, got {geometry:?}"
                ),
            });
        }
        let kind = match spec {
            DecoderSpec::Centerface(s) => Prepared::CenterFace(s.clone()),
            DecoderSpec::Nanodet(s) => {
                nanodet::check(s, geometry)?;
                Prepared::NanoDet(s.clone())
            }
            DecoderSpec::Blazeface(s) => Prepared::BlazeFace(BlazeFace::new(s, geometry)?),
            DecoderSpec::Ssd(s) => Prepared::Ssd(Ssd::new(s)?),
            DecoderSpec::Yolov8(s) => Prepared::Yolov8(s.clone()),
            DecoderSpec::Yolov5(s) => Prepared::Yolov5(s.clone()),
            DecoderSpec::Yolox(s) => Prepared::Yolox(Yolox::new(s, geometry)?),
        };
        Ok(Self { kind, geometry })
    }

    /// The model geometry this decoder was prepared for.
    pub fn geometry(&self) -> ModelGeometry {
        self.geometry
    }

    /// Candidates scoring at least `threshold`, in model-input pixels, before NMS.
    pub fn candidates(
        &self,
        outputs: &[NamedTensor],
        threshold: f32,
    ) -> Result<Vec<Candidate>, DetectError> {
        let g = self.geometry;
        match &self.kind {
            Prepared::CenterFace(s) => centerface::decode(s, outputs, threshold),
            Prepared::NanoDet(s) => nanodet::decode(s, g, outputs, threshold),
            Prepared::BlazeFace(b) => b.decode(outputs, threshold),
            Prepared::Ssd(s) => s.decode(g, outputs, threshold),
            Prepared::Yolov8(s) => yolo::decode_v8(s, g, outputs, threshold),
            Prepared::Yolov5(s) => yolo::decode_v5(s, g, outputs, threshold),
            Prepared::Yolox(y) => y.decode(g, outputs, threshold),
        }
    }
}

/// What happens after decoding: thresholds, class filter, NMS: the per-model settings of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct PostProcess {
    /// Minimum score of a detection.
    pub score_threshold: f32,
    /// Boxes of one class overlapping more than this (IoU) with a better one are dropped.
    pub nms_iou: f32,
    /// Class ids to keep; `None` keeps all.
    pub keep: Option<Vec<u32>>,
    /// At most this many detections per picture, best first.
    pub max_detections: usize,
    /// Label of each class id.
    pub labels: Vec<Arc<str>>,
}

impl PostProcess {
    /// Filters classes, runs class-wise NMS and maps boxes and landmarks to frame pixels.
    pub fn finish(&self, mut candidates: Vec<Candidate>, t: &BoxTransform) -> Vec<Detection> {
        if let Some(keep) = &self.keep {
            candidates.retain(|c| keep.contains(&c.class_id));
        }
        // A model that outputs NaN or infinity (a broken or hostile file) reports nothing there,
        // rather than boxes no event, tracker or JSON consumer can use.
        candidates.retain(|c| {
            c.score.is_finite()
                && c.bbox.iter().all(|v| v.is_finite())
                && c.landmarks.iter().flatten().all(|v| v.is_finite())
        });
        let kept = nms::class_wise(candidates, self.nms_iou, self.max_detections);
        kept.into_iter()
            .map(|c| Detection {
                label: self
                    .labels
                    .get(c.class_id as usize)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(format!("class{}", c.class_id))),
                class_id: c.class_id,
                score: c.score,
                bbox: t.box_to_frame(c.bbox),
                landmarks: c
                    .landmarks
                    .iter()
                    .map(|p| {
                        let (x, y) = t.point_to_frame(p[0], p[1]);
                        [x, y]
                    })
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::preprocess::{ChannelOrder, InputLayout, Preprocess, Resize};

    fn cand(class_id: u32, score: f32, bbox: [f32; 4]) -> Candidate {
        Candidate {
            class_id,
            score,
            bbox,
            landmarks: vec![[bbox[0], bbox[1]]],
        }
    }

    fn post(keep: Option<Vec<u32>>) -> PostProcess {
        PostProcess {
            score_threshold: 0.5,
            nms_iou: 0.5,
            keep,
            max_detections: 10,
            labels: vec![Arc::from("person"), Arc::from("car")],
        }
    }

    /// A 416x416 letterbox of an 832x416 frame: scale 0.5, 104 pixels of padding top and bottom.
    fn transform() -> BoxTransform {
        let pre = Preprocess {
            width: 416,
            height: 416,
            resize: Resize::Letterbox,
            channel_order: ChannelOrder::Rgb,
            layout: InputLayout::Nchw,
            mean: [0.0; 3],
            std: [1.0; 3],
            pad_value: 0.0,
        };
        BoxTransform::for_frame(&pre, 832, 416)
    }

    #[test]
    fn finish_maps_boxes_and_landmarks_to_the_frame_and_labels_them() {
        let d = post(None).finish(vec![cand(1, 0.9, [10.0, 114.0, 30.0, 154.0])], &transform());
        assert_eq!(d.len(), 1);
        assert_eq!(&*d[0].label, "car");
        assert_eq!(d[0].bbox, [20.0, 20.0, 60.0, 100.0]);
        assert_eq!(d[0].landmarks, vec![[20.0, 20.0]]);
    }

    #[test]
    fn finish_drops_candidates_with_numbers_that_are_not_finite() {
        let d = post(None).finish(
            vec![
                cand(1, f32::NAN, [10.0, 114.0, 30.0, 154.0]),
                cand(1, 0.9, [10.0, f32::INFINITY, 30.0, 154.0]),
                cand(1, 0.8, [10.0, 114.0, 30.0, 154.0]),
            ],
            &transform(),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].score, 0.8);
    }

    #[test]
    fn finish_keeps_only_the_listed_classes() {
        let cands = vec![
            cand(0, 0.9, [0.0, 104.0, 10.0, 120.0]),
            cand(1, 0.8, [50.0, 104.0, 60.0, 120.0]),
        ];
        let all = post(None).finish(cands.clone(), &transform());
        assert_eq!(all.len(), 2);
        let people = post(Some(vec![0])).finish(cands, &transform());
        assert_eq!(people.len(), 1);
        assert_eq!(&*people[0].label, "person");
    }

    #[test]
    fn decoder_needs_labels() {
        let spec = DecoderSpec::Yolov8(YoloSpec {
            output: "output0".into(),
        });
        let g = ModelGeometry {
            width: 640,
            height: 640,
            classes: 0,
        };
        assert!(matches!(
            Decoder::new(&spec, g),
            Err(DetectError::Spec { .. })
        ));
    }
}
