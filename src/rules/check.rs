//! Validation of a camera's rules: every problem is an error at its place in the pipeline file.

use std::path::Path;

use serde_saphyr::Spanned;

use super::{Polygon, RulesConfig, Units};
use crate::config::names::UniqueNames;
use crate::config::{ConfigError, did_you_mean};

/// Walks a [`RulesConfig`] and stops at the first problem.
pub(super) struct Checker<'a> {
    file: &'a Path,
    rules: &'a RulesConfig,
    labels: Option<&'a [&'a str]>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(
        file: &'a Path,
        rules: &'a RulesConfig,
        labels: Option<&'a [&'a str]>,
    ) -> Self {
        Self {
            file,
            rules,
            labels,
        }
    }

    pub(super) fn run(&self) -> Result<(), ConfigError> {
        let r = self.rules;
        for label in r.objects.iter().flatten() {
            self.known_label(label, "`objects`")?;
        }
        for (i, mask) in r.masks.iter().enumerate() {
            self.polygon(mask, &format!("mask {}", i + 1))?;
        }
        let mut filters: Vec<_> = r.filters.iter().collect();
        filters.sort_by_key(|(k, _)| (k.referenced.line(), k.referenced.column()));
        for (label, f) in filters {
            let what = format!("filter `{}`", label.value);
            self.known_label(label, &what)?;
            self.watched(label, &what)?;
            let err = |m: String| Err(self.at(label, format!("{what}: {m}")));
            for (name, v) in [("min_score", f.min_score), ("threshold", f.threshold)] {
                if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
                    return err(format!("`{name}` must be in 0..1, got {v}"));
                }
            }
            for (name, v) in [
                ("min_area", f.min_area),
                ("max_area", f.max_area),
                ("min_ratio", f.min_ratio),
                ("max_ratio", f.max_ratio),
            ] {
                if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                    return err(format!("`{name}` must be a number of 0 or more, got {v}"));
                }
            }
            if r.units == Units::Relative
                && let Some(v) = f.min_area.into_iter().chain(f.max_area).find(|v| *v > 1.0)
            {
                return err(format!(
                    "area {v} is more than the whole frame (`units: relative` areas are fractions \
                     of the frame; use `units: pixels` for square pixels)"
                ));
            }
            if let (Some(lo), Some(hi)) = (f.min_area, f.max_area)
                && lo > hi
            {
                return err(format!("`min_area` ({lo}) exceeds `max_area` ({hi})"));
            }
            if let (Some(lo), Some(hi)) = (f.min_ratio, f.max_ratio)
                && lo > hi
            {
                return err(format!("`min_ratio` ({lo}) exceeds `max_ratio` ({hi})"));
            }
            for (i, mask) in f.masks.iter().enumerate() {
                self.polygon(mask, &format!("{what}, mask {}", i + 1))?;
            }
        }

        let mut names = UniqueNames::default();
        for z in &r.zones {
            let what = format!("zone `{}`", z.name.value);
            names.add(self.file, "zone", &z.name)?;
            self.polygon(&z.points, &what)?;
            for l in &z.labels {
                self.known_label(l, &what)?;
                self.watched(l, &what)?;
            }
            if z.inertia == 0 {
                return Err(self.at(&z.name, format!("{what}: `inertia` must be at least 1")));
            }
            if let Some(s) = z.loitering_seconds.filter(|s| !s.is_finite() || *s <= 0.0) {
                return Err(self.at(
                    &z.name,
                    format!("{what}: `loitering_seconds` must be more than 0, got {s}"),
                ));
            }
            if let Some(occ) = &z.occupancy
                && occ.threshold == Some(0)
            {
                return Err(self.at(
                    &z.name,
                    format!("{what}: occupancy `threshold` must be at least 1"),
                ));
            }
        }

        let mut names = UniqueNames::default();
        for l in &r.lines {
            let what = format!("line `{}`", l.name.value);
            names.add(self.file, "line", &l.name)?;
            self.point(&l.a, &what)?;
            self.point(&l.b, &what)?;
            let (a, b) = (l.a.value, l.b.value);
            let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
            let min = match r.units {
                Units::Relative => 1e-3,
                Units::Pixels => 1.0,
            };
            if len < min {
                return Err(self.at(
                    &l.b,
                    format!("{what} has no length: `a` and `b` are (almost) the same point"),
                ));
            }
            for label in &l.labels {
                self.known_label(label, &what)?;
                self.watched(label, &what)?;
            }
            if !(0.0..=2.0).contains(&l.hysteresis) {
                return Err(self.at(
                    &l.name,
                    format!(
                        "{what}: `hysteresis` is a fraction of the box height in 0..2, got {}",
                        l.hysteresis
                    ),
                ));
            }
        }
        Ok(())
    }

    fn at<T>(&self, v: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        ConfigError::spanned(self.file, v, message)
    }

    fn polygon(&self, poly: &Polygon, what: &str) -> Result<(), ConfigError> {
        if poly.value.len() < 3 {
            return Err(self.at(
                poly,
                format!(
                    "{what}: a polygon needs at least 3 points, got {}",
                    poly.value.len()
                ),
            ));
        }
        for p in &poly.value {
            self.point(p, what)?;
        }
        Ok(())
    }

    fn point(&self, p: &Spanned<[f32; 2]>, what: &str) -> Result<(), ConfigError> {
        for v in p.value {
            let ok = match self.rules.units {
                Units::Relative => (0.0..=1.0).contains(&v),
                Units::Pixels => v.is_finite() && v >= 0.0,
            };
            if !ok {
                let m = match self.rules.units {
                    Units::Relative => format!(
                        "{what}: coordinate {v} is outside 0..1; with `units: relative` (the \
                         default) points are fractions of the frame, or set `units: pixels`"
                    ),
                    Units::Pixels => {
                        format!("{what}: coordinate {v} must be a pixel position of 0 or more")
                    }
                };
                return Err(self.at(p, m));
            }
        }
        Ok(())
    }

    /// The model must be able to report `label`.
    fn known_label(&self, label: &Spanned<String>, what: &str) -> Result<(), ConfigError> {
        let Some(known) = self.labels else {
            return Ok(());
        };
        let l = label.value.as_str();
        if known.contains(&l) {
            return Ok(());
        }
        let hint = did_you_mean(l, known.iter().copied());
        let sample: Vec<&str> = known.iter().take(8).copied().collect();
        let more = if known.len() > sample.len() {
            ", ..."
        } else {
            ""
        };
        Err(self.at(
            label,
            format!(
                "{what}: unknown label `{l}`: the model reports {}{more}{hint}",
                sample.join(", ")
            ),
        ))
    }

    /// A label named by a filter, zone or line must be one that `objects` keeps.
    fn watched(&self, label: &Spanned<String>, what: &str) -> Result<(), ConfigError> {
        match &self.rules.objects {
            Some(objects) if !objects.iter().any(|o| o.value == label.value) => Err(self.at(
                label,
                format!(
                    "{what}: label `{}` is not in `objects`, so it is never reported",
                    label.value
                ),
            )),
            _ => Ok(()),
        }
    }
}
