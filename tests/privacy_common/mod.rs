//! Helpers of the privacy tests: running a pipeline to its summary, running `lookout redact`,
//! and asking lookout's own face detectors what they find.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common;

/// `lookout redact INPUT OUTPUT --backend opencv --json EXTRA...`: the JSON report.
pub fn redact(input: &Path, output: &Path, extra: &[&str]) -> Value {
    let (i, o) = (input.to_str().unwrap(), output.to_str().unwrap());
    let mut args = vec!["redact", i, o, "--backend", "opencv", "--json"];
    args.extend_from_slice(extra);
    common::lookout_json(&args)
}

/// Face boxes that `models/<model>.yaml` finds in each input (per frame for videos), through
/// `lookout detect --backend opencv --json`.
pub fn faces(model: &str, inputs: &[PathBuf], extra: &[&str]) -> Vec<Vec<[f64; 4]>> {
    let manifest = format!("models/{model}.yaml");
    let mut args = vec![
        "detect",
        "--model",
        &manifest,
        "--backend",
        "opencv",
        "--json",
    ];
    args.extend_from_slice(extra);
    let inputs: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    args.extend(inputs.iter().map(String::as_str));
    common::lookout_json_lines(&args)
        .into_iter()
        .map(|v| {
            v["detections"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let b: Vec<f64> = d["box"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    [b[0], b[1], b[2], b[3]]
                })
                .collect()
        })
        .collect()
}
