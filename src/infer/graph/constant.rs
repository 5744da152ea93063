//! Constant tensors known at load time: weights, folded shape arithmetic.

use crate::infer::InferError;

/// Most elements one constant may hold (256 Mi): bounds what folding a hostile graph can allocate.
pub const MAX_CONST_ELEMENTS: usize = 1 << 28;

/// Element storage of a constant: floats for weights, integers for shapes and indices.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Const {
    pub shape: Vec<usize>,
    pub data: ConstData,
}

impl Const {
    /// A float constant; `data.len()` must match `shape`.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Const {
            shape,
            data: ConstData::F32(data),
        }
    }

    /// An integer constant; `data.len()` must match `shape`.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Const {
            shape,
            data: ConstData::I64(data),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            ConstData::F32(v) => v.len(),
            ConstData::I64(v) => v.len(),
        }
    }

    /// True when the constant has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as floats (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            ConstData::F32(v) => v.clone(),
            ConstData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// Borrowed floats, when this is a float constant.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            ConstData::F32(v) => Some(v),
            ConstData::I64(_) => None,
        }
    }

    /// The values as integers (floats truncated toward zero, as ONNX Cast does).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            ConstData::F32(v) => v
                .iter()
                .map(|&x| if x.is_finite() { x as i64 } else { 0 })
                .collect(),
            ConstData::I64(v) => v.clone(),
        }
    }

    /// True for integer constants.
    pub fn is_int(&self) -> bool {
        matches!(self.data, ConstData::I64(_))
    }

    /// The single value of a one-element constant, as an integer.
    pub fn scalar_i64(&self) -> Option<i64> {
        (self.len() == 1).then(|| self.to_i64()[0])
    }

    /// The single value of a one-element constant, as a float.
    pub fn scalar_f32(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.to_f32()[0])
    }
}

/// Product of dims with overflow and size checks: the one place element counts are computed.
pub fn checked_elements(shape: &[usize]) -> Result<usize, InferError> {
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_CONST_ELEMENTS)
            .ok_or_else(|| {
                InferError::BadModel(format!(
                    "tensor of shape {shape:?} has more than {MAX_CONST_ELEMENTS} elements"
                ))
            })?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_count_overflow_is_an_error() {
        assert_eq!(checked_elements(&[2, 3, 4]).unwrap(), 24);
        assert!(checked_elements(&[1 << 20, 1 << 20]).is_err());
        assert!(checked_elements(&[usize::MAX, 2]).is_err());
        assert_eq!(checked_elements(&[]).unwrap(), 1);
    }
}
