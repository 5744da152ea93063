// Shared by the one-thread-per-element kernels (spliced in by `#include "common/grid.wgsl"`).
// The host folds a 1-D grid of 64-wide workgroups into y past the per-dimension limit
// (emit::grid); `p.row_threads` is the thread count of one row.

// The flat index of this thread.
fn thread_index(gid: vec3<u32>) -> u32 {
    return gid.x + gid.y * p.row_threads;
}
