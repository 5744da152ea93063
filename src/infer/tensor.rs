//! Host-side tensors: what goes into and comes out of a backend.

/// A dense f32 tensor in row-major order, shaped as the ONNX model declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of the given shape; `data.len()` must equal the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// A zero-filled tensor.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; n],
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Checks what a caller built by hand: a non-empty shape whose product is the data's length.
    pub fn check(&self) -> Result<(), super::InferError> {
        if self.shape.is_empty() || self.shape.iter().product::<usize>() != self.data.len() {
            return Err(super::InferError::Input(format!(
                "tensor of shape {:?} holds {} values",
                self.shape,
                self.data.len()
            )));
        }
        Ok(())
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A named model output.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub tensor: Tensor,
}
