//! Where a tensor lives on the GPU and how its elements are laid out there.
//!
//! Activations of spatial ops are NHWC with the channel count padded to a multiple of 4 (one vec4
//! per 4 channels; padding lanes hold zeros). A tensor may be a *view* into a larger NHWC storage
//! (a Concat part written at its channel offset, a Split part read in place): its pixel stride is
//! then the storage's channel capacity and its offset the channel offset. Other tensors are plain
//! row-major.

use super::shader::Prec;
use crate::infer::graph::shape::strides as row_major;

/// Physical layout of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Logical `[N, C, H, W]` stored as `[N, H, W, ps]` starting at channel `offset`.
    Nhwc,
    /// Row-major in logical order, starting at element `offset`.
    Plain,
}

/// The storage slot, element offset and layout of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub slot: usize,
    /// Element offset in the slot (for NHWC, the channel offset within each pixel).
    pub offset: usize,
    pub layout: Layout,
    pub prec: Prec,
    /// NHWC pixel stride in elements (a multiple of 4); unused for plain tensors.
    pub ps: usize,
}

/// Rounds up to a multiple of 4.
pub fn up4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

impl Place {
    /// Element strides of each logical dim of a tensor of `shape` in this place.
    pub fn strides(&self, shape: &[usize]) -> Vec<usize> {
        match self.layout {
            Layout::Plain => row_major(shape),
            Layout::Nhwc => {
                let (h, w) = (shape[2], shape[3]);
                vec![h * w * self.ps, 1, w * self.ps, self.ps]
            }
        }
    }

    /// Offset and pixel stride in vec4 units, for vec4 kernels.
    pub fn vec4(&self) -> (u32, u32) {
        debug_assert!(self.offset.is_multiple_of(4) && self.ps.is_multiple_of(4));
        ((self.offset / 4) as u32, (self.ps / 4) as u32)
    }

    /// Elements from `offset` that cover every element of the tensor (padding lanes included),
    /// rounded up to a multiple of 4.
    pub fn span(&self, shape: &[usize]) -> usize {
        let n: usize = shape.iter().product();
        match self.layout {
            Layout::Plain => up4(n),
            Layout::Nhwc => {
                let pixels = shape[0] * shape[2] * shape[3];
                up4((pixels - 1) * self.ps + up4(shape[1]))
            }
        }
    }

    /// Encodes a logical row-major tensor into this place's layout; the bytes cover
    /// `[offset, offset + span)` with zeros in padding lanes.
    pub fn pack(&self, shape: &[usize], data: &[f32]) -> Vec<u8> {
        let span = self.span(shape);
        let mut phys = vec![0.0f32; span];
        match self.layout {
            Layout::Plain => phys[..data.len()].copy_from_slice(data),
            Layout::Nhwc => {
                let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
                for b in 0..n {
                    for ch in 0..c {
                        for y in 0..h {
                            for x in 0..w {
                                let src = ((b * c + ch) * h + y) * w + x;
                                phys[((b * h + y) * w + x) * self.ps + ch] = data[src];
                            }
                        }
                    }
                }
            }
        }
        self.prec.encode(&phys)
    }

    /// Decodes `bytes` (the region `[offset, offset + span)`) into a logical row-major tensor.
    pub fn unpack(&self, shape: &[usize], bytes: &[u8]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        match self.layout {
            Layout::Plain => (0..n).map(|i| self.prec.decode(bytes, i)).collect(),
            Layout::Nhwc => {
                let (nb, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
                let mut out = vec![0.0; n];
                for b in 0..nb {
                    for ch in 0..c {
                        for y in 0..h {
                            for x in 0..w {
                                let src = ((b * h + y) * w + x) * self.ps + ch;
                                out[((b * c + ch) * h + y) * w + x] = self.prec.decode(bytes, src);
                            }
                        }
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_pack_unpack_round_trips_with_padding() {
        let p = Place {
            slot: 0,
            offset: 0,
            layout: Layout::Nhwc,
            prec: Prec::F32,
            ps: 8,
        };
        let shape = [2, 5, 3, 2];
        let data: Vec<f32> = (0..60).map(|i| i as f32).collect();
        let bytes = p.pack(&shape, &data);
        assert_eq!(bytes.len(), p.span(&shape) * 4);
        // Channel 1 of pixel (0,0,1) of image 0 is logical (0,1,0,1) = 1*6 + 1 = 7.
        assert_eq!(Prec::F32.decode(&bytes, 8 + 1), 7.0);
        assert_eq!(Prec::F32.decode(&bytes, 8 + 6), 0.0);
        assert_eq!(p.unpack(&shape, &bytes), data);
    }
}
