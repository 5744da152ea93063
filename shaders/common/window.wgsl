// Sliding-window constants of a convolution or pooling kernel (spliced in by
// `#include "common/window.wgsl"`), substituted by the host from the op's window
// (emit::window_vars): kernel, stride, dilation, top and left pads.

const KH: u32 = $KHu;
const KW: u32 = $KWu;
const SH: i32 = $SH;
const SW: i32 = $SW;
const DH: i32 = $DH;
const DW: i32 = $DW;
const PT: i32 = $PT;
const PL: i32 = $PL;
