//! Rewrites two opset-13 spellings that OpenCV 4.6 (Debian 12's libopencv-dnn) misreads into the
//! older, equivalent spellings it does read. Only constants move; the computation is unchanged.
//!
//! - `Split` with its sizes as a second input (opset >= 13): OpenCV 4.6's importer reads only the
//!   `split` attribute and otherwise splits into equal parts, so NanoDet's 124-channel head is cut
//!   62/62 instead of 80/44 and the following `Reshape [1, 80, -1]` fails ("Can't infer a dim
//!   denoted by -1"). Rewritten: a constant sizes input becomes the `split` attribute.
//! - `Clip` with min and max as inputs (opset >= 11): OpenCV 4.6 asserts one input
//!   (`node_proto.input_size() == 1`), so SSDLite's ReLU6 clips do not load. Rewritten: constant
//!   scalar bounds become the `min` and `max` attributes.
//!
//! OpenCV 4.7 and later read both spellings, so the rewrite is harmless there. The ONNX file on
//! disk is never changed (its sha256 stays what the manifest says); only the bytes handed to OpenCV.

use std::collections::HashMap;

/// Why the bytes are not an ONNX protobuf we can walk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ONNX file: {0}")]
pub struct CompatError(String);

/// One protobuf field value as it appears on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(&'a [u8]),
    Bytes(&'a [u8]),
    Fixed32(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, CompatError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf
            .get(*pos)
            .ok_or_else(|| CompatError("truncated varint".into()))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(CompatError("varint longer than 10 bytes".into()))
}

/// Splits a message into `(field number, value)` pairs.
fn fields(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, CompatError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = u32::try_from(key >> 3).map_err(|_| CompatError("bad field number".into()))?;
        let take = |pos: &mut usize, n: usize| -> Result<&[u8], CompatError> {
            let end = pos
                .checked_add(n)
                .filter(|&e| e <= buf.len())
                .ok_or_else(|| CompatError("field runs past the end".into()))?;
            let s = &buf[*pos..end];
            *pos = end;
            Ok(s)
        };
        let value = match key & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => Wire::Fixed64(take(&mut pos, 8)?),
            2 => {
                let n = varint(buf, &mut pos)?;
                let n = usize::try_from(n).map_err(|_| CompatError("huge field".into()))?;
                Wire::Bytes(take(&mut pos, n)?)
            }
            5 => Wire::Fixed32(take(&mut pos, 4)?),
            w => return Err(CompatError(format!("unsupported wire type {w}"))),
        };
        out.push((field, value));
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put(out: &mut Vec<u8>, field: u32, value: Wire<'_>) {
    let (wire, body): (u64, Option<&[u8]>) = match value {
        Wire::Varint(_) => (0, None),
        Wire::Fixed64(b) => (1, Some(b)),
        Wire::Bytes(b) => (2, Some(b)),
        Wire::Fixed32(b) => (5, Some(b)),
    };
    put_varint(out, (u64::from(field) << 3) | wire);
    match (value, body) {
        (Wire::Varint(v), _) => put_varint(out, v),
        (Wire::Bytes(b), _) => {
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        (_, Some(b)) => out.extend_from_slice(b),
        (_, None) => {}
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// Field numbers from onnx.proto3.
const MODEL_GRAPH: u32 = 7;
const GRAPH_NODE: u32 = 1;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_INPUT: u32 = 11;
const VALUE_INFO_NAME: u32 = 1;
const NODE_INPUT: u32 = 1;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_FLOAT_DATA: u32 = 4;
const TENSOR_INT64_DATA: u32 = 7;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
const ATTR_NAME: u32 = 1;
const ATTR_F: u32 = 2;
const ATTR_INTS: u32 = 8;
const ATTR_TYPE: u32 = 20;
const ATTR_TYPE_FLOAT: u64 = 1;
const ATTR_TYPE_INTS: u64 = 7;
const DTYPE_FLOAT: u64 = 1;
const DTYPE_INT64: u64 = 7;

/// A constant from the graph's initializers, as far as the rewrite needs one.
#[derive(Debug, Clone, PartialEq)]
enum Constant {
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

/// Decodes an initializer's values when it is FLOAT or INT64; `None` for anything else.
fn constant(tensor: &[u8]) -> Result<Option<(String, Constant)>, CompatError> {
    let (mut name, mut dtype, mut raw) = (String::new(), 0, None);
    let (mut floats, mut ints) = (Vec::new(), Vec::new());
    for (f, v) in fields(tensor)? {
        match (f, v) {
            (TENSOR_NAME, Wire::Bytes(b)) => name = text(b),
            (TENSOR_DATA_TYPE, Wire::Varint(t)) => dtype = t,
            (TENSOR_RAW_DATA, Wire::Bytes(b)) => raw = Some(b),
            (TENSOR_FLOAT_DATA, Wire::Bytes(b)) => floats.extend(
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            (TENSOR_FLOAT_DATA, Wire::Fixed32(b)) => {
                floats.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            (TENSOR_INT64_DATA, Wire::Bytes(b)) => {
                let mut p = 0;
                while p < b.len() {
                    ints.push(varint(b, &mut p)? as i64);
                }
            }
            (TENSOR_INT64_DATA, Wire::Varint(x)) => ints.push(x as i64),
            (TENSOR_DIMS, _) => {}
            _ => {}
        }
    }
    let value = match (dtype, raw) {
        (DTYPE_FLOAT, Some(r)) => Constant::Floats(
            r.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        (DTYPE_FLOAT, None) => Constant::Floats(floats),
        (DTYPE_INT64, Some(r)) => Constant::Ints(
            r.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        (DTYPE_INT64, None) => Constant::Ints(ints),
        _ => return Ok(None),
    };
    Ok(Some((name, value)))
}

/// A float attribute `name = v`.
fn float_attr(name: &str, v: f32) -> Vec<u8> {
    let mut a = Vec::new();
    put(&mut a, ATTR_NAME, Wire::Bytes(name.as_bytes()));
    put(&mut a, ATTR_F, Wire::Fixed32(&v.to_le_bytes()));
    put(&mut a, ATTR_TYPE, Wire::Varint(ATTR_TYPE_FLOAT));
    a
}

/// An integer-list attribute `name = [v...]` (packed).
fn ints_attr(name: &str, v: &[i64]) -> Vec<u8> {
    let mut packed = Vec::new();
    for &x in v {
        put_varint(&mut packed, x as u64);
    }
    let mut a = Vec::new();
    put(&mut a, ATTR_NAME, Wire::Bytes(name.as_bytes()));
    put(&mut a, ATTR_INTS, Wire::Bytes(&packed));
    put(&mut a, ATTR_TYPE, Wire::Varint(ATTR_TYPE_INTS));
    a
}

/// The node rewritten for OpenCV 4.6, or `None` when it needs no change.
fn rewrite_node(
    node: &[u8],
    consts: &HashMap<String, Constant>,
) -> Result<Option<Vec<u8>>, CompatError> {
    let parts = fields(node)?;
    let op = parts.iter().find_map(|(f, v)| match (f, v) {
        (&NODE_OP_TYPE, Wire::Bytes(b)) => Some(*b),
        _ => None,
    });
    let inputs: Vec<String> = parts
        .iter()
        .filter_map(|(f, v)| match (f, v) {
            (&NODE_INPUT, Wire::Bytes(b)) => Some(text(b)),
            _ => None,
        })
        .collect();
    // (number of leading inputs to keep, attributes to add)
    let (keep, attrs): (usize, Vec<Vec<u8>>) = match op {
        Some(b"Split") if inputs.len() == 2 => match consts.get(&inputs[1]) {
            Some(Constant::Ints(sizes)) if sizes.len() > 1 => (1, vec![ints_attr("split", sizes)]),
            _ => return Ok(None),
        },
        Some(b"Clip") if inputs.len() > 1 => {
            let bound = |i: usize, name: &str| -> Result<Option<Vec<u8>>, ()> {
                match inputs.get(i).map(String::as_str) {
                    None | Some("") => Ok(None),
                    Some(n) => match consts.get(n) {
                        Some(Constant::Floats(v)) if v.len() == 1 => {
                            Ok(Some(float_attr(name, v[0])))
                        }
                        _ => Err(()),
                    },
                }
            };
            match (bound(1, "min"), bound(2, "max")) {
                (Ok(lo), Ok(hi)) => (1, lo.into_iter().chain(hi).collect()),
                _ => return Ok(None), // bounds computed at run time: leave it to OpenCV
            }
        }
        _ => return Ok(None),
    };
    let mut out = Vec::with_capacity(node.len() + 32);
    let mut seen_inputs = 0;
    for (f, v) in parts {
        if f == NODE_INPUT {
            seen_inputs += 1;
            if seen_inputs > keep {
                continue;
            }
        }
        put(&mut out, f, v);
    }
    for a in &attrs {
        put(&mut out, NODE_ATTRIBUTE, Wire::Bytes(a));
    }
    Ok(Some(out))
}

/// A model ready for OpenCV: its bytes after the rewrite, and what was learnt on the way.
#[derive(Debug, Clone)]
pub struct ForOpenCv {
    /// The model with constant-input `Split` and `Clip` nodes in their attribute form.
    pub bytes: Vec<u8>,
    /// How many nodes were rewritten.
    pub rewritten: usize,
    /// Names of the graph inputs that are not initializers: what the model must be fed.
    pub inputs: Vec<String>,
}

/// Rewrites the model for OpenCV 4.6 (see the module docs); all other bytes are kept as they are.
pub fn for_opencv_4_6(model: &[u8]) -> Result<ForOpenCv, CompatError> {
    let top = fields(model)?;
    let mut rewritten = 0;
    let mut inputs = Vec::new();
    let mut out = Vec::with_capacity(model.len() + 1024);
    for (f, v) in top {
        let (MODEL_GRAPH, Wire::Bytes(graph)) = (f, v) else {
            put(&mut out, f, v);
            continue;
        };
        let parts = fields(graph)?;
        let mut consts = HashMap::new();
        let mut init_names = Vec::new();
        for (gf, gv) in &parts {
            match (gf, gv) {
                (&GRAPH_INITIALIZER, Wire::Bytes(t)) => {
                    if let Some((name, c)) = constant(t)? {
                        consts.insert(name, c);
                    }
                    init_names.extend(fields(t)?.into_iter().find_map(|(f, v)| match (f, v) {
                        (TENSOR_NAME, Wire::Bytes(b)) => Some(text(b)),
                        _ => None,
                    }));
                }
                (&GRAPH_INPUT, Wire::Bytes(vi)) => {
                    inputs.extend(fields(vi)?.into_iter().find_map(|(f, v)| match (f, v) {
                        (VALUE_INFO_NAME, Wire::Bytes(b)) => Some(text(b)),
                        _ => None,
                    }));
                }
                _ => {}
            }
        }
        inputs.retain(|i| !init_names.contains(i));
        let mut g = Vec::with_capacity(graph.len() + 1024);
        for (gf, gv) in parts {
            match (gf, gv) {
                (GRAPH_NODE, Wire::Bytes(node)) => match rewrite_node(node, &consts)? {
                    Some(n) => {
                        rewritten += 1;
                        put(&mut g, GRAPH_NODE, Wire::Bytes(&n));
                    }
                    None => put(&mut g, gf, gv),
                },
                _ => put(&mut g, gf, gv),
            }
        }
        put(&mut out, MODEL_GRAPH, Wire::Bytes(&g));
    }
    Ok(ForOpenCv {
        bytes: out,
        rewritten,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, dtype: u64, raw: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        put(&mut t, TENSOR_DATA_TYPE, Wire::Varint(dtype));
        put(&mut t, TENSOR_NAME, Wire::Bytes(name.as_bytes()));
        put(&mut t, TENSOR_RAW_DATA, Wire::Bytes(raw));
        t
    }

    fn node(op: &str, inputs: &[&str]) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            put(&mut n, NODE_INPUT, Wire::Bytes(i.as_bytes()));
        }
        put(&mut n, 2, Wire::Bytes(b"y"));
        put(&mut n, NODE_OP_TYPE, Wire::Bytes(op.as_bytes()));
        n
    }

    fn model(nodes: &[Vec<u8>], inits: &[Vec<u8>]) -> Vec<u8> {
        let mut g = Vec::new();
        for n in nodes {
            put(&mut g, GRAPH_NODE, Wire::Bytes(n));
        }
        for t in inits {
            put(&mut g, GRAPH_INITIALIZER, Wire::Bytes(t));
        }
        let mut m = Vec::new();
        put(&mut m, 1, Wire::Varint(8)); // ir_version
        put(&mut m, MODEL_GRAPH, Wire::Bytes(&g));
        m
    }

    /// The fields of the first node of the graph, length-delimited ones as bytes.
    fn first_node(m: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let top = fields(m).unwrap();
        let Wire::Bytes(g) = top[1].1 else { panic!() };
        let Wire::Bytes(n) = fields(g).unwrap()[0].1 else {
            panic!()
        };
        fields(n)
            .unwrap()
            .into_iter()
            .map(|(f, v)| match v {
                Wire::Bytes(b) => (f, b.to_vec()),
                _ => (f, Vec::new()),
            })
            .collect()
    }

    #[test]
    fn split_sizes_become_an_attribute() {
        let sizes: Vec<u8> = [80i64, 44].iter().flat_map(|v| v.to_le_bytes()).collect();
        let m = model(
            &[node("Split", &["x", "sizes"])],
            &[tensor("sizes", DTYPE_INT64, &sizes)],
        );
        let r = for_opencv_4_6(&m).unwrap();
        assert_eq!(r.rewritten, 1);
        let f = first_node(&r.bytes);
        assert_eq!(f.iter().filter(|(k, _)| *k == NODE_INPUT).count(), 1);
        let attr = f.iter().find(|(k, _)| *k == NODE_ATTRIBUTE).unwrap();
        let a = fields(&attr.1).unwrap();
        assert!(matches!(a[0], (ATTR_NAME, Wire::Bytes(b"split"))));
        let Wire::Bytes(packed) = a[1].1 else {
            panic!()
        };
        assert_eq!(packed, &[80, 44]);
    }

    #[test]
    fn clip_bounds_become_attributes() {
        let m = model(
            &[node("Clip", &["x", "lo", "hi"])],
            &[
                tensor("lo", DTYPE_FLOAT, &0f32.to_le_bytes()),
                tensor("hi", DTYPE_FLOAT, &6f32.to_le_bytes()),
            ],
        );
        let r = for_opencv_4_6(&m).unwrap();
        assert_eq!(r.rewritten, 1);
        let f = first_node(&r.bytes);
        assert_eq!(f.iter().filter(|(k, _)| *k == NODE_INPUT).count(), 1);
        assert_eq!(f.iter().filter(|(k, _)| *k == NODE_ATTRIBUTE).count(), 2);
    }

    #[test]
    fn runtime_bounds_and_other_nodes_are_left_alone() {
        let m = model(
            &[node("Clip", &["x", "computed", ""]), node("Relu", &["x"])],
            &[],
        );
        let r = for_opencv_4_6(&m).unwrap();
        assert_eq!((r.rewritten, r.bytes), (0, m));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(for_opencv_4_6(b"\x0a\xff\xff\xff\xff\x0f").is_err());
        assert!(for_opencv_4_6(b"this is not an onnx model").is_err());
        let real = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/centerface.onnx"),
        )
        .unwrap();
        assert!(for_opencv_4_6(&real[..real.len() / 2]).is_err());
    }

    #[test]
    fn shipped_models_get_exactly_the_expected_rewrites() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for (file, want, input) in [
            ("nanodet-g-416.onnx", 3, "input_1:0"),
            (
                "ssdlite-mobilenetv2-person-300.onnx",
                59,
                "Preprocessor/sub:0",
            ),
            ("centerface.onnx", 0, "input.1"),
            ("blazeface-short-range-128.onnx", 0, "input"),
        ] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            let r = for_opencv_4_6(&bytes).unwrap();
            assert_eq!(r.rewritten, want, "{file}");
            assert_eq!(r.inputs, vec![input.to_string()], "{file}");
        }
    }
}
