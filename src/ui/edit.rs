//! Writing a drawn zone, line or mask into the pipeline file's text: the one item is inserted,
//! replaced or removed in its camera's `rules:`, and every other byte of the file (comments,
//! layout, `${VAR}`s) stays as it was. Positions come from the YAML tokenizer the config parser
//! is built on.

use granit_parser::{Event, Parser, Span};
use serde::Deserialize;

use crate::geometry::Point;

/// What a user drew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Zone,
    Line,
    Mask,
}

impl ShapeKind {
    /// The key of its list in `rules:`.
    fn key(self) -> &'static str {
        match self {
            ShapeKind::Zone => "zones",
            ShapeKind::Line => "lines",
            ShapeKind::Mask => "masks",
        }
    }
}

/// One edit of a camera's rules, in the units the file uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Edit {
    pub camera: String,
    pub kind: ShapeKind,
    /// Zone or line name (replaced when it exists, added otherwise).
    #[serde(default)]
    pub name: Option<String>,
    /// Mask to replace or remove (added when absent).
    #[serde(default)]
    pub index: Option<usize>,
    /// Corners of a zone or mask, or a line's two ends.
    #[serde(default)]
    pub points: Vec<Point>,
    /// A line's direction: `any`, `a_to_b` or `b_to_a`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Remove the item instead.
    #[serde(default)]
    pub remove: bool,
}

/// Why an edit cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Shape(String),
    #[error("the pipeline file does not parse as YAML; fix it first")]
    Unparsed,
    #[error("camera `{0}` is not written in the file under that name")]
    NoCamera(String),
    #[error("nothing to remove: {0}")]
    NotFound(String),
    #[error("the file writes `{0}` in a form this page does not edit; edit it by hand")]
    Unsupported(String),
}

/// A number as people write coordinates: at most 4 decimals, no trailing zeros.
fn num(v: f32, pixels: bool) -> String {
    if pixels {
        return format!("{}", v.round() as i64);
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn point(p: Point, pixels: bool) -> String {
    format!("[{}, {}]", num(p[0], pixels), num(p[1], pixels))
}

/// The item's text in flow style, e.g. `{name: gate, a: [0.2, 0.6], b: [0.8, 0.6], direction: any}`.
pub fn snippet(edit: &Edit, pixels: bool) -> Result<String, EditError> {
    let name = || -> Result<&str, EditError> {
        let n = edit
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| EditError::Shape("give it a name".into()))?;
        if !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(EditError::Shape(format!(
                "`{n}`: names are letters, digits, `_` and `-`"
            )));
        }
        Ok(n)
    };
    for p in &edit.points {
        if !p[0].is_finite() || !p[1].is_finite() {
            return Err(EditError::Shape("a point is not a number".into()));
        }
    }
    let corners = |min: usize| -> Result<String, EditError> {
        if edit.points.len() < min {
            return Err(EditError::Shape(format!(
                "a polygon needs at least {min} corners, got {}",
                edit.points.len()
            )));
        }
        let list: Vec<String> = edit.points.iter().map(|p| point(*p, pixels)).collect();
        Ok(format!("[{}]", list.join(", ")))
    };
    Ok(match edit.kind {
        ShapeKind::Line => {
            let [a, b] = edit.points.as_slice() else {
                return Err(EditError::Shape(format!(
                    "a line has two ends, got {} points",
                    edit.points.len()
                )));
            };
            let direction = edit.direction.as_deref().unwrap_or("any");
            if !["any", "a_to_b", "b_to_a"].contains(&direction) {
                return Err(EditError::Shape(format!(
                    "direction `{direction}`: any, a_to_b or b_to_a"
                )));
            }
            format!(
                "{{name: {}, a: {}, b: {}, direction: {direction}}}",
                name()?,
                point(*a, pixels),
                point(*b, pixels)
            )
        }
        ShapeKind::Zone => format!("{{name: {}, points: {}}}", name()?, corners(3)?),
        ShapeKind::Mask => corners(3)?,
    })
}

/// A node of the file with its place: byte offsets of its first character and of the end of
/// its last one (a block collection ends where its last content ends, not at the next key).
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    /// Column (0-based) of its first character.
    col: usize,
    flow: bool,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Other,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match &self.body {
            Body::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.body, Body::Scalar(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn scalar(&self) -> Option<&str> {
        match &self.body {
            Body::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

struct Tree<'t> {
    events: Vec<(Event<'t>, Span)>,
    /// Byte offset of each character index.
    bytes: Vec<usize>,
}

impl Tree<'_> {
    fn byte(&self, m: granit_parser::Marker) -> usize {
        m.byte_offset().unwrap_or_else(|| {
            self.bytes
                .get(m.index())
                .copied()
                .unwrap_or_else(|| *self.bytes.last().unwrap_or(&0))
        })
    }

    fn build(&self, i: &mut usize) -> Option<Node> {
        let (event, span) = self.events.get(*i)?;
        *i += 1;
        let start = self.byte(span.start);
        let col = span.start.col();
        Some(match event {
            Event::Scalar(v, ..) => Node {
                start,
                end: self.byte(span.end),
                col,
                flow: false,
                body: Body::Scalar(v.to_string()),
            },
            Event::SequenceStart(style, ..) => {
                let flow = matches!(style, granit_parser::StructureStyle::Flow);
                let mut items = Vec::new();
                while !matches!(self.events.get(*i)?.0, Event::SequenceEnd) {
                    items.push(self.build(i)?);
                }
                let end_span = self.events.get(*i)?.1;
                *i += 1;
                let end = if flow {
                    self.byte(end_span.end)
                } else {
                    items.last().map_or(start, |n| n.end)
                };
                let start = items
                    .first()
                    .filter(|_| !flow)
                    .map_or(start, |n| n.start.min(start));
                Node {
                    start,
                    end,
                    col,
                    flow,
                    body: Body::Seq(items),
                }
            }
            Event::MappingStart(style, ..) => {
                let flow = matches!(style, granit_parser::StructureStyle::Flow);
                let mut entries = Vec::new();
                while !matches!(self.events.get(*i)?.0, Event::MappingEnd) {
                    let k = self.build(i)?;
                    let v = self.build(i)?;
                    entries.push((k, v));
                }
                let end_span = self.events.get(*i)?.1;
                *i += 1;
                let end = if flow {
                    self.byte(end_span.end)
                } else {
                    entries.last().map_or(start, |(_, v)| v.end)
                };
                let (start, col) = match entries.first() {
                    Some((k, _)) if !flow => (k.start, k.col),
                    _ => (start, col),
                };
                Node {
                    start,
                    end,
                    col,
                    flow,
                    body: Body::Map(entries),
                }
            }
            _ => Node {
                start,
                end: self.byte(span.end),
                col,
                flow: false,
                body: Body::Other,
            },
        })
    }
}

/// The first document of `text` as a tree of placed nodes.
fn parse(text: &str) -> Option<Node> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        events.push((event, span));
    }
    let tree = Tree {
        events,
        bytes: text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(text.len()))
            .collect(),
    };
    let mut i = tree
        .events
        .iter()
        .position(|(e, _)| matches!(e, Event::DocumentStart(..)))?
        + 1;
    tree.build(&mut i)
}

/// Offset of the end of the line holding `at` (before its line break): insertions go after
/// anything else on that line, comments included.
fn line_end(text: &str, at: usize) -> usize {
    text[at..].find('\n').map_or(text.len(), |n| at + n)
}

/// Offset of the start of the line holding `at`.
fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |n| n + 1)
}

/// Column of the `-` that starts the block sequence item at `item`.
fn dash_col(text: &str, item: usize) -> Option<usize> {
    let ls = line_start(text, item);
    let before = &text[ls..item];
    before.rfind('-').map(|d| before[..d].chars().count())
}

fn splice(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

/// `text` with `edit` applied to camera `edit.camera`'s rules; `item` is the snippet from
/// [`snippet`] (unused for removals).
pub fn apply(text: &str, edit: &Edit, item: &str) -> Result<String, EditError> {
    let root = parse(text).ok_or(EditError::Unparsed)?;
    let cameras = root
        .get("cameras")
        .ok_or_else(|| EditError::NoCamera(edit.camera.clone()))?;
    let Body::Seq(list) = &cameras.body else {
        return Err(EditError::Unsupported("cameras".into()));
    };
    let cam = list
        .iter()
        .find(|c| c.get("name").and_then(Node::scalar).map(str::trim) == Some(&edit.camera))
        .ok_or_else(|| EditError::NoCamera(edit.camera.clone()))?;
    let key = edit.kind.key();
    let missing = || EditError::NotFound(format!("no such item in `rules.{key}`"));
    let Some(rules) = cam.get("rules") else {
        if edit.remove {
            return Err(missing());
        }
        return Ok(if cam.flow {
            splice(
                text,
                cam.end - 1,
                cam.end - 1,
                &format!(", rules: {{{key}: [{item}]}}"),
            )
        } else {
            let pad = " ".repeat(cam.col);
            let at = line_end(text, cam.end);
            splice(
                text,
                at,
                at,
                &format!("\n{pad}rules:\n{pad}  {key}:\n{pad}    - {item}"),
            )
        });
    };
    if !matches!(rules.body, Body::Map(_)) {
        return Err(EditError::Unsupported(format!("{}'s rules", edit.camera)));
    }
    let Some(items) = rules.get(key) else {
        if edit.remove {
            return Err(missing());
        }
        return Ok(if rules.flow {
            splice(
                text,
                rules.end - 1,
                rules.end - 1,
                &format!(", {key}: [{item}]"),
            )
        } else {
            let pad = " ".repeat(rules.col);
            let at = line_end(text, rules.end);
            splice(text, at, at, &format!("\n{pad}{key}:\n{pad}  - {item}"))
        });
    };
    let Body::Seq(entries) = &items.body else {
        return Err(EditError::Unsupported(format!("rules.{key}")));
    };
    let found = match edit.kind {
        ShapeKind::Mask => edit.index.filter(|&i| i < entries.len()),
        _ => entries.iter().position(|e| {
            e.get("name").and_then(Node::scalar).map(str::trim) == edit.name.as_deref()
        }),
    };
    match (found, edit.remove) {
        (None, true) => Err(missing()),
        (Some(i), false) => Ok(splice(text, entries[i].start, entries[i].end, item)),
        (Some(i), true) => {
            let e = &entries[i];
            if items.flow {
                // The item and the comma after it (or before it, for the last one).
                let (from, to) = match entries.get(i + 1) {
                    Some(next) => (e.start, next.start),
                    None if i > 0 => (entries[i - 1].end, e.end),
                    None => (e.start, e.end),
                };
                Ok(splice(text, from, to, ""))
            } else if entries.len() == 1 {
                // The list would be empty: its key goes too.
                let from = line_start(text, key_start(text, rules, key));
                let to = (line_end(text, e.end) + 1).min(text.len());
                Ok(splice(text, from, to, ""))
            } else {
                let from = line_start(text, e.start);
                let to = (line_end(text, e.end) + 1).min(text.len());
                Ok(splice(text, from, to, ""))
            }
        }
        (None, false) => Ok(if items.flow {
            let sep = if entries.is_empty() { "" } else { ", " };
            splice(text, items.end - 1, items.end - 1, &format!("{sep}{item}"))
        } else {
            let last = entries
                .last()
                .ok_or_else(|| EditError::Unsupported(key.into()))?;
            let col = dash_col(text, last.start).unwrap_or(rules.col);
            let at = line_end(text, last.end);
            splice(text, at, at, &format!("\n{}- {item}", " ".repeat(col)))
        }),
    }
}

/// Offset of the key `key` in the block mapping `map`.
fn key_start(text: &str, map: &Node, key: &str) -> usize {
    match &map.body {
        Body::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map_or(map.start, |(k, _)| k.start.min(text.len())),
        _ => map.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# my cameras
cameras:
  - name: door   # the front door
    source: rtsp://${USER}@cam/1
    detect: {model: objects}
    rules:
      objects: [person]   # people only
      lines:
        - {name: old, a: [0.1, 0.1], b: [0.2, 0.2]}
        - name: path
          a: [0.5, 0.1]
          b: [0.5, 0.9]
  - name: yard
    source: test:ball
    rules: {objects: [person]}
  - name: shed
    source: test:ball
    detect: {model: objects}   # no rules yet
sinks:
  - stdout: {}   # keep
";

    fn line(camera: &str, name: &str, a: Point, b: Point) -> Edit {
        Edit {
            camera: camera.into(),
            kind: ShapeKind::Line,
            name: Some(name.into()),
            index: None,
            points: vec![a, b],
            direction: Some("a_to_b".into()),
            remove: false,
        }
    }

    fn edit(e: &Edit) -> String {
        let item = snippet(e, false).unwrap();
        apply(FILE, e, &item).unwrap()
    }

    /// The file minus `gone` plus `added`, line by line: nothing else moved.
    fn only_changed(new: &str, gone: &[&str], added: &[&str]) {
        let mut want: Vec<&str> = FILE.lines().filter(|l| !gone.contains(l)).collect();
        let mut got: Vec<&str> = new.lines().collect();
        // Each added line once: the same text may also be in the file already.
        for a in added {
            if let Some(i) = got.iter().rposition(|l| l == a) {
                got.remove(i);
            }
        }
        want.sort();
        got.sort();
        assert_eq!(got, want, "{new}");
        for a in added {
            assert!(new.lines().any(|l| l == *a), "{a:?} missing in:\n{new}");
        }
    }

    #[test]
    fn a_new_line_is_appended_to_the_block_list() {
        let new = edit(&line("door", "gate", [0.25, 0.6], [0.8, 0.6]));
        only_changed(
            &new,
            &[],
            &["        - {name: gate, a: [0.25, 0.6], b: [0.8, 0.6], direction: a_to_b}"],
        );
        let pos = new.find("gate").unwrap();
        assert!(pos > new.find("b: [0.5, 0.9]").unwrap() && pos < new.find("yard").unwrap());
    }

    #[test]
    fn an_existing_line_is_replaced_in_place_flow_or_block() {
        let new = edit(&line("door", "old", [0.0, 0.5], [1.0, 0.5]));
        only_changed(
            &new,
            &["        - {name: old, a: [0.1, 0.1], b: [0.2, 0.2]}"],
            &["        - {name: old, a: [0, 0.5], b: [1, 0.5], direction: a_to_b}"],
        );
        let new = edit(&line("door", "path", [0.4, 0.1], [0.4, 0.9]));
        only_changed(
            &new,
            &[
                "        - name: path",
                "          a: [0.5, 0.1]",
                "          b: [0.5, 0.9]",
            ],
            &["        - {name: path, a: [0.4, 0.1], b: [0.4, 0.9], direction: a_to_b}"],
        );
    }

    #[test]
    fn rules_written_in_flow_style_get_the_key_inside_the_braces() {
        let new = edit(&line("yard", "gate", [0.1, 0.5], [0.9, 0.5]));
        only_changed(
            &new,
            &["    rules: {objects: [person]}"],
            &[
                "    rules: {objects: [person], lines: [{name: gate, a: [0.1, 0.5], b: [0.9, 0.5], direction: a_to_b}]}",
            ],
        );
    }

    #[test]
    fn a_camera_without_rules_gets_a_section_after_its_last_line() {
        let mut e = line("shed", "z", [0.0, 0.0], [0.0, 0.0]);
        e.kind = ShapeKind::Zone;
        e.points = vec![[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]];
        let new = edit(&e);
        only_changed(
            &new,
            &[],
            &[
                "    rules:",
                "      zones:",
                "        - {name: z, points: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}",
            ],
        );
        assert!(new.contains("# no rules yet\n    rules:"), "{new}");
    }

    #[test]
    fn masks_are_added_replaced_and_removed_by_index() {
        let mut e = line("door", "", [0.0, 0.0], [0.0, 0.0]);
        e.kind = ShapeKind::Mask;
        e.name = None;
        e.points = vec![[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]];
        let added = edit(&e);
        only_changed(
            &added,
            &[],
            &["      masks:", "        - [[0, 0], [0.2, 0], [0.2, 0.2]]"],
        );
        e.index = Some(0);
        e.remove = true;
        let back = apply(&added, &e, "").unwrap();
        assert_eq!(back, FILE);
    }

    #[test]
    fn removing_a_line_keeps_the_others() {
        let mut e = line("door", "old", [0.0, 0.0], [0.0, 0.0]);
        e.remove = true;
        let new = apply(FILE, &e, "").unwrap();
        only_changed(
            &new,
            &["        - {name: old, a: [0.1, 0.1], b: [0.2, 0.2]}"],
            &[],
        );
    }

    #[test]
    fn bad_shapes_and_unknown_cameras_are_refused() {
        let mut e = line("door", "a b", [0.0, 0.0], [1.0, 1.0]);
        assert!(matches!(snippet(&e, false), Err(EditError::Shape(_))));
        e.name = Some("ok".into());
        e.points.pop();
        assert!(matches!(snippet(&e, false), Err(EditError::Shape(_))));
        let e = line("nowhere", "x", [0.0, 0.0], [1.0, 1.0]);
        assert_eq!(
            apply(FILE, &e, "{}"),
            Err(EditError::NoCamera("nowhere".into()))
        );
        assert_eq!(num(640.4, true), "640");
        assert_eq!(num(0.12345, false), "0.1235");
    }
}
