//! ONNX bytes through our protobuf reader and IR (constant folding, shape inference, attribute
//! checks): an error or a graph, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::infer::graph::{self, InputShape};

fuzz_target!(|data: &[u8]| {
    let Ok(model) = lookout::infer::onnx::load(data) else {
        return;
    };
    let inputs: Vec<InputShape> = model
        .inputs
        .iter()
        .map(|i| InputShape {
            name: i.name.clone(),
            shape: vec![1, 3, 32, 32],
        })
        .collect();
    let _ = graph::build(&model, &inputs);
});
