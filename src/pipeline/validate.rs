//! Whole-pipeline validation: each section checked by its component, then what spans sections
//! (unique camera names, models and cameras that sinks and media refer to).

use std::path::{Path, PathBuf};

use super::{Pipeline, PipelineFile};
use crate::config::ConfigError;
use crate::config::names::UniqueNames;
use crate::privacy::MediaCamera;

pub(super) fn validate(
    file: PipelineFile,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Pipeline, ConfigError> {
    let base = match path.parent() {
        Some(b) if !b.as_os_str().is_empty() => b.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if file.cameras.is_empty() {
        return Err(ConfigError::at(
            path,
            1,
            1,
            "`cameras` is empty: a pipeline needs at least one camera",
        ));
    }
    let device = file.device.validate(path)?;
    let models = crate::model::config::validate(file.models, path, &base)?;
    let mut names = UniqueNames::default();
    let mut cameras = Vec::with_capacity(file.cameras.len());
    for c in &file.cameras {
        names.add(path, "camera", &c.name)?;
        cameras.push(c.validate(path, &base, &models)?);
    }
    let metrics_listen = if file.metrics.enabled {
        Some(crate::config::listen_addr(
            path,
            &file.metrics.listen,
            "127.0.0.1:9464",
        )?)
    } else {
        None
    };
    let camera_names: Vec<String> = cameras.iter().map(|c| c.name().to_string()).collect();
    let sink_ctx = crate::sinks::CheckContext {
        file: path,
        base: &base,
        env: lookup,
    };
    let sinks = crate::sinks::validate(file.sinks, &sink_ctx, &camera_names)?;
    let media_cameras: Vec<MediaCamera> = cameras
        .iter()
        .map(|c| MediaCamera {
            name: c.name(),
            detects: c.detect.is_some(),
            redacts_faces: c.privacy.as_ref().is_some_and(|p| p.faces.is_some()),
        })
        .collect();
    let media = crate::privacy::validate_media(file.media, path, &base, &media_cameras)?;
    let ui = match &file.ui {
        Some(u) => u.validate(
            path,
            media_cameras.iter().filter(|c| c.redacts_faces).count(),
        )?,
        None => None,
    };
    let state_dir = match &file.state_dir {
        Some(dir) => base.join(&dir.value),
        None => crate::sinks::default_state_dir(path),
    };
    Ok(Pipeline {
        path: path.to_path_buf(),
        device,
        cameras,
        models,
        metrics_listen,
        sinks,
        state_dir,
        media,
        ui,
    })
}
