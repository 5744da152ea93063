//! What a pipeline can report, per camera: the labels, zones and lines that sinks announce
//! (Home Assistant discovery) before any event arrives, with what each zone and line counts, so
//! that nothing is announced that can never have a value.

use crate::events::Crossing;
use crate::rules::RulesConfig;

use super::SinkFilter;

/// Per-camera names known from the pipeline file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraCatalog {
    pub name: String,
    /// Labels the camera reports (its rules' `objects`, else every label of its detector).
    pub labels: Vec<String>,
    pub zones: Vec<ZoneCatalog>,
    pub lines: Vec<LineCatalog>,
}

/// A zone and the counts it reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneCatalog {
    pub name: String,
    /// Labels the zone watches, among the camera's.
    pub labels: Vec<String>,
    /// Whether the zone sends `occupancy` events (the only source of its counts).
    pub occupancy: bool,
    /// With a threshold, occupancy events come only when the count passes it.
    pub threshold: Option<u32>,
}

/// A line and the crossings it counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineCatalog {
    pub name: String,
    /// Labels the line counts, among the camera's.
    pub labels: Vec<String>,
    /// Directions it counts.
    pub directions: Vec<Crossing>,
}

/// Everything sinks may announce up front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub cameras: Vec<CameraCatalog>,
}

impl CameraCatalog {
    /// The catalog of camera `name` reporting `labels`, with the zones and lines of its `rules`.
    pub fn new(name: &str, labels: Vec<String>, rules: &RulesConfig) -> Self {
        // An empty `labels:` on a zone or line means every label the camera reports.
        let among = |own: &[serde_saphyr::Spanned<String>]| -> Vec<String> {
            labels
                .iter()
                .filter(|l| own.is_empty() || own.iter().any(|o| &o.value == *l))
                .cloned()
                .collect()
        };
        let zones = rules
            .zones
            .iter()
            .map(|z| ZoneCatalog {
                name: z.name.value.clone(),
                labels: among(&z.labels),
                occupancy: z.occupancy.is_some(),
                threshold: z.occupancy.as_ref().and_then(|o| o.threshold),
            })
            .collect();
        let lines = rules
            .lines
            .iter()
            .map(|l| LineCatalog {
                name: l.name.value.clone(),
                labels: among(&l.labels),
                directions: [Crossing::AToB, Crossing::BToA]
                    .into_iter()
                    .filter(|c| l.direction.admits(*c))
                    .collect(),
            })
            .collect();
        Self {
            name: name.to_string(),
            labels,
            zones,
            lines,
        }
    }
}

impl Catalog {
    /// What a sink with `filter` can report: its cameras and labels only; per-camera counts only
    /// when it receives `object` events, zone counts only with `occupancy` events, line counts
    /// only with `line_crossed` events.
    pub fn filtered(&self, filter: &SinkFilter) -> Catalog {
        let kind = |k: &str| filter.kinds.is_empty() || filter.kinds.iter().any(|f| f.value == k);
        let label = |l: &String| filter.labels.is_empty() || filter.labels.contains(l);
        let labels =
            |v: &[String]| -> Vec<String> { v.iter().filter(|l| label(l)).cloned().collect() };
        let cameras = self
            .cameras
            .iter()
            .filter(|c| {
                filter.cameras.is_empty() || filter.cameras.iter().any(|f| f.value == c.name)
            })
            .map(|c| CameraCatalog {
                name: c.name.clone(),
                labels: if kind("object") {
                    labels(&c.labels)
                } else {
                    Vec::new()
                },
                zones: c
                    .zones
                    .iter()
                    .map(|z| ZoneCatalog {
                        labels: labels(&z.labels),
                        occupancy: z.occupancy && kind("occupancy"),
                        ..z.clone()
                    })
                    .collect(),
                lines: c
                    .lines
                    .iter()
                    .map(|l| LineCatalog {
                        labels: if kind("line_crossed") {
                            labels(&l.labels)
                        } else {
                            Vec::new()
                        },
                        ..l.clone()
                    })
                    .collect(),
            })
            .collect();
        Catalog { cameras }
    }
}
