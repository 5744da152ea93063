//! Finding and loading the ONNX Runtime shared library at run time (`ort`'s `load-dynamic`): lookout
//! builds without it, and the CPU backend falls back to OpenCV where it is missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::ExecutionProvider;
use crate::infer::InferError;

/// Environment variable naming the library file (the name `ort` itself reads).
pub const ENV_VAR: &str = "ORT_DYLIB_PATH";

/// The library's file name on this platform (`libonnxruntime.so` on Linux).
fn file_name() -> String {
    format!(
        "{}onnxruntime{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The loaded library: where it came from, its version and what it can run on.
pub struct Runtime {
    /// The file that was loaded (or the bare name the system's library path resolved).
    pub path: PathBuf,
    /// Release, e.g. `1.32.0` (from the library's build information).
    pub version: String,
    /// Execution providers this build of the library has (`CPUExecutionProvider`, `CUDAExecutionProvider`, ...).
    pub providers: Vec<String>,
    /// The process-wide ONNX Runtime environment every session is made in.
    pub(super) env: ort::environment::Environment,
}

/// Where to look, in order: `$ORT_DYLIB_PATH` alone when it is set; else beside the executable,
/// in this checkout's `.ort/` (where `deps.sh` unpacks it), and the system's library path.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let name = file_name();
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(&name));
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(".ort")
            .join(&name),
    );
    // A bare name: the dynamic loader searches LD_LIBRARY_PATH, its cache and the system folders.
    out.push(PathBuf::from(name));
    out
}

/// The library, loaded on first use and kept for the process; the same error every time after a
/// failed attempt (it names every place that was tried).
pub fn runtime() -> Result<&'static Runtime, InferError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|e| InferError::Library(e.clone()))
}

fn load() -> Result<Runtime, String> {
    let mut tried = Vec::new();
    for path in candidates() {
        // A path that is not there is not worth a dlopen error message of its own.
        if path.components().count() > 1 && !path.exists() {
            tried.push(format!("{} (not there)", path.display()));
            continue;
        }
        match ort::init_from(&path) {
            Ok(builder) => {
                let env = builder
                    .with_name("lookout")
                    .build()
                    .map_err(|e| format!("ONNX Runtime at {}: {e}", path.display()))?;
                // Its informational messages (arena growth, graph passes) are noise in our logs.
                env.set_log_level(ort::logging::LogLevel::Warning);
                let version = version(&path).unwrap_or_else(|| "unknown".into());
                let providers = available_providers();
                tracing::debug!(path = %path.display(), %version, ?providers, "ONNX Runtime loaded");
                return Ok(Runtime {
                    path,
                    version,
                    providers,
                    env,
                });
            }
            Err(e) => tried.push(format!("{} ({e})", path.display())),
        }
    }
    Err(format!(
        "the ONNX Runtime library ({}) was not found; looked at: {}. Run ./deps.sh, or set {ENV_VAR} to the library file",
        file_name(),
        tried.join("; ")
    ))
}

/// The release of the library at `path`, as the library itself reports it.
fn version(path: &Path) -> Option<String> {
    // SAFETY: `ort` has just loaded this very file, so opening it again only takes another
    // reference to the loaded library (no initialisers run); `OrtGetApiBase` and its
    // `GetVersionString` are ONNX Runtime's stable C entry points, the string is static inside
    // the library and is copied before our reference is dropped.
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get_base: libloading::Symbol<
            '_,
            unsafe extern "C" fn() -> *const ort::sys::OrtApiBase,
        > = lib.get(b"OrtGetApiBase").ok()?;
        let base = get_base();
        if base.is_null() {
            return None;
        }
        let v = ((*base).GetVersionString)();
        (!v.is_null()).then(|| std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned())
    }
}

/// Names of the execution providers compiled into the loaded library.
fn available_providers() -> Vec<String> {
    let mut out = vec!["CPUExecutionProvider".to_string()];
    out.extend(
        ExecutionProvider::ALL
            .into_iter()
            .filter(|p| p.in_library())
            .map(|p| p.ort_name().to_string()),
    );
    out
}
