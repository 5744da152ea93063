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
        let mut out = vec![0u8; self.span(shape) * self.prec.bytes()];
        self.pack_with(shape, data, |at, bytes| {
            out[at..at + bytes.len()].copy_from_slice(bytes)
        });
        out
    }

    /// [`Self::pack`] in pieces: `put(at, bytes)` receives every byte of the span once, in
    /// order (e.g. into write-only staging memory, with no whole-tensor intermediate). A row of
    /// pixels at a time (each channel plane read as a stream), encoded in bulk: a tensor input
    /// is packed on every call.
    pub fn pack_with(&self, shape: &[usize], data: &[f32], mut put: impl FnMut(usize, &[u8])) {
        let elem = self.prec.bytes();
        let span = self.span(shape);
        match self.layout {
            Layout::Plain => {
                const CHUNK: usize = 16 * 1024;
                let mut bytes = vec![0u8; CHUNK * elem];
                for start in (0..span).step_by(CHUNK) {
                    let end = (start + CHUNK).min(span);
                    let have = data.len().clamp(start, end);
                    let piece = &mut bytes[..(end - start) * elem];
                    self.prec.encode_into(&data[start..have], piece);
                    piece[(have - start) * elem..].fill(0);
                    put(start * elem, piece);
                }
            }
            Layout::Nhwc => {
                let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
                let mut row = vec![0.0f32; w * self.ps];
                let mut bytes = vec![0u8; w * self.ps * elem];
                for b in 0..n {
                    let image = &data[b * c * h * w..(b + 1) * c * h * w];
                    for y in 0..h {
                        for (x, px) in row.chunks_exact_mut(self.ps).enumerate() {
                            for (ch, v) in px[..c].iter_mut().enumerate() {
                                *v = image[(ch * h + y) * w + x];
                            }
                        }
                        // The span's last row ends at its last pixel's (4-padded) channels.
                        let at = (b * h + y) * w * self.ps;
                        let len = (w * self.ps).min(span - at);
                        self.prec.encode_into(&row[..len], &mut bytes);
                        put(at * elem, &bytes[..len * elem]);
                    }
                }
            }
        }
    }

    /// Decodes `bytes` (the region `[offset, offset + span)`) into a logical row-major tensor.
    ///
    /// `bytes` is usually mapped GPU memory: it is converted in one sweep, front to back.
    pub fn unpack(&self, shape: &[usize], bytes: &[u8]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let mut out = vec![0.0; n];
        match self.layout {
            Layout::Plain => self.prec.decode_into(bytes, &mut out),
            Layout::Nhwc => {
                let (nb, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
                let elem = self.prec.bytes();
                let mut row = vec![0.0f32; w * self.ps];
                let row_bytes = w * self.ps * elem;
                // Each row up to its last pixel's channels (where the span's last row may end).
                let len = (w - 1) * self.ps + c;
                for b in 0..nb {
                    for y in 0..h {
                        let at = (b * h + y) * row_bytes;
                        self.prec.decode_into(&bytes[at..], &mut row[..len]);
                        for ch in 0..c {
                            let plane = (b * c + ch) * h * w + y * w;
                            for (x, o) in out[plane..plane + w].iter_mut().enumerate() {
                                *o = row[x * self.ps + ch];
                            }
                        }
                    }
                }
            }
        }
        out
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

    /// The element-by-element definition pack and unpack must agree with.
    fn reference_nhwc(p: &Place, shape: &[usize], data: &[f32]) -> Vec<f32> {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        let mut phys = vec![0.0; p.span(shape)];
        for b in 0..n {
            for ch in 0..c {
                for i in 0..h * w {
                    phys[(b * h * w + i) * p.ps + ch] = data[(b * c + ch) * h * w + i];
                }
            }
        }
        phys
    }

    #[test]
    fn f16_nhwc_matches_the_definition_and_round_trips() {
        let p = Place {
            slot: 0,
            offset: 0,
            layout: Layout::Nhwc,
            prec: Prec::F16,
            ps: 4,
        };
        // 3 channels in 4 lanes, odd width: the span's last pixel ends at its padded lanes.
        let shape = [2, 3, 5, 7];
        let data: Vec<f32> = (0..210).map(|i| i as f32 * 0.5 - 20.0).collect();
        let bytes = p.pack(&shape, &data);
        assert_eq!(bytes.len(), p.span(&shape) * 2);
        let want = reference_nhwc(&p, &shape, &data);
        let got: Vec<f32> = (0..want.len())
            .map(|i| Prec::F16.decode(&bytes, i))
            .collect();
        assert_eq!(got, want);
        assert_eq!(p.unpack(&shape, &bytes), data);
    }

    #[test]
    fn pieces_cover_the_span_once_in_order_with_zero_padding() {
        for (layout, ps, shape) in [
            (Layout::Nhwc, 8, [1, 5, 3, 4]),
            // Longer than one plain piece, and not a multiple of 4.
            (Layout::Plain, 0, [1, 1, 3, 16_387]),
        ] {
            let p = Place {
                slot: 0,
                offset: 0,
                layout,
                prec: Prec::F32,
                ps,
            };
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 + 1.0).collect();
            let mut next = 0;
            p.pack_with(&shape, &data, |at, bytes| {
                assert_eq!(at, next, "{layout:?}: pieces in order, no gap");
                next = at + bytes.len();
            });
            assert_eq!(next, p.span(&shape) * 4, "{layout:?}: the whole span");
            let bytes = p.pack(&shape, &data);
            let phys: Vec<f32> = (0..p.span(&shape))
                .map(|i| Prec::F32.decode(&bytes, i))
                .collect();
            let want = match layout {
                Layout::Nhwc => reference_nhwc(&p, &shape, &data),
                Layout::Plain => {
                    let mut v = data.clone();
                    v.resize(p.span(&shape), 0.0);
                    v
                }
            };
            assert_eq!(phys, want, "{layout:?}");
            assert_eq!(p.unpack(&shape, &bytes), data, "{layout:?}");
        }
    }

    #[test]
    fn a_picture_unpacks_alone_from_its_stride() {
        for (layout, ps) in [(Layout::Nhwc, 8), (Layout::Plain, 0)] {
            let p = Place {
                slot: 0,
                offset: 0,
                layout,
                prec: Prec::F16,
                ps,
            };
            let shape = [3, 5, 2, 3];
            let data: Vec<f32> = (0..90).map(|i| i as f32).collect();
            let bytes = p.pack(&shape, &data);
            let one = [1, 5, 2, 3];
            let at = 2 * p.strides(&one)[0] * Prec::F16.bytes();
            assert_eq!(p.unpack(&one, &bytes[at..]), data[60..], "{layout:?}");
        }
    }
}
