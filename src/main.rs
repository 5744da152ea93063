//! The `lookout` command: a thin shell over the library; exit 0 ok, 1 runtime failure, 2 bad input.

mod cli;

fn main() -> std::process::ExitCode {
    return_freed_buffers_to_the_system();
    cli::main()
}

/// A run lasts months and frees big buffers every frame (model outputs, MBs each). glibc's
/// dynamic mmap threshold moves such blocks into the heap once one has been freed, where they stay
/// mapped: the demo grew from 141 to 161 MiB that way. A fixed threshold keeps blocks of 128 KiB
/// and more in their own mappings, returned to the system when freed.
fn return_freed_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
