//! The folders of `src/` depend on each other in one direction only: the order written in
//! `src/lib.rs`'s doc comment. This test reads that list and every `crate::` and `super::` path of
//! every file in `src/` (comments and string literals aside), and fails naming the file and the
//! path when a folder uses one on its own line or below it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Folder name -> its line number in the layer list of `src/lib.rs`.
fn layer_order(lib_rs: &str) -> BTreeMap<String, usize> {
    let mut order = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.strip_prefix("//! ") else {
            continue;
        };
        let Some((num, text)) = rest.split_once(". ") else {
            continue;
        };
        let Ok(rank) = num.trim().parse::<usize>() else {
            continue;
        };
        // The folders are the [`name`] links before the first colon.
        let head = text.split(':').next().unwrap_or("");
        for part in head.split("[`").skip(1) {
            if let Some(name) = part.split('`').next() {
                order.insert(name.to_string(), rank);
            }
        }
    }
    order
}

/// Source text with comments, string and char literals blanked, so paths inside them do not count.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 1 + ch_len)
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let ch = src[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The module path of a file below `src/`: `capture/gst/camera.rs` -> `[capture, gst, camera]`,
/// `capture/mod.rs` -> `[capture]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every top-level module a file's code names, with the text that named it: `crate::x`,
/// `crate::{x, y}` and `super::` chains that climb to the crate root.
fn referenced_roots(code: &str, module: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = code;
    let mut offset = 0;
    while let Some(pos) = rest.find(['c', 's']) {
        let at = offset + pos;
        let before = code[..at].chars().next_back();
        let tail = &code[at..];
        let standalone = before.is_none_or(|c| !is_ident(c));
        let mut advance = pos + 1;
        if standalone {
            let (root_rest, depth) = if let Some(t) = tail.strip_prefix("crate::") {
                (Some(t), 0)
            } else if tail.starts_with("super::") {
                let mut t = tail;
                let mut n = 0;
                while let Some(s) = t.strip_prefix("super::") {
                    t = s;
                    n += 1;
                }
                (Some(t), n)
            } else {
                (None, 0)
            };
            if let Some(t) = root_rest {
                // `super` from a file climbs out of its own module first.
                let climbs_to_root = depth == 0 || depth >= module.len();
                if climbs_to_root {
                    let snippet: String = tail.chars().take(60).collect();
                    let snippet = snippet.lines().next().unwrap_or("").to_string();
                    if let Some(group) = t.strip_prefix('{') {
                        let end = group.find('}').unwrap_or(group.len());
                        for item in group[..end].split(',') {
                            let name: String =
                                item.trim().chars().take_while(|&c| is_ident(c)).collect();
                            if !name.is_empty() && name != "self" {
                                found.push((name, snippet.clone()));
                            }
                        }
                    } else {
                        let name: String = t.chars().take_while(|&c| is_ident(c)).collect();
                        if !name.is_empty() {
                            found.push((name, snippet));
                        }
                    }
                }
                advance = pos + (tail.len() - t.len()).max(1);
            }
        }
        offset += advance;
        rest = &code[offset..];
    }
    found
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Upward (or sideways) uses in the tree at `src`, one message each.
fn violations(src: &Path) -> Vec<String> {
    let order = layer_order(&std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs"));
    assert!(order.len() >= 10, "no layer list in src/lib.rs: {order:?}");
    let mut problems = Vec::new();
    let mut folders: Vec<String> = std::fs::read_dir(src)
        .expect("src")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_string_lossy().to_string();
            p.is_dir().then_some(name)
        })
        .collect();
    folders.sort();
    for f in &folders {
        if f != "cli" && !order.contains_key(f) {
            problems.push(format!("src/{f}/ is not in the layer list of src/lib.rs"));
        }
    }
    for name in order.keys() {
        if !folders.contains(name) {
            problems.push(format!(
                "src/lib.rs lists `{name}`, which is not a folder of src/"
            ));
        }
    }
    let mut files = Vec::new();
    rs_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).expect("below src");
        let module = module_path(rel);
        let Some(folder) = module
            .first()
            .filter(|_| module.len() > 1 || rel.components().count() > 1)
        else {
            continue; // lib.rs, main.rs
        };
        let Some(&rank) = order.get(folder) else {
            continue; // the binary's cli
        };
        let text = std::fs::read_to_string(&file).expect("source file");
        for (used, snippet) in referenced_roots(&code_only(&text), &module) {
            if used == *folder {
                continue;
            }
            if let Some(&used_rank) = order.get(&used)
                && used_rank >= rank
            {
                problems.push(format!(
                    "src/{}: `{snippet}`: {folder} (layer {rank}) may not use {used} (layer {used_rank})",
                    rel.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn folders_depend_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "imports against the layer order of src/lib.rs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_path() {
    let module = [
        "capture".to_string(),
        "gst".to_string(),
        "camera".to_string(),
    ];
    let code = code_only(
        "use crate::{metrics::Metrics, pipeline};\n\
         // crate::runtime in a comment\n\
         let s = \"crate::sinks in a string\";\n\
         let c = '\"'; let r = r#\"crate::rules\"#;\n\
         fn f<'a>(x: &'a crate::track::Seen) {}\n\
         use super::super::super::privacy::Thing;\n\
         use super::convert::Converter;\n",
    );
    let roots: Vec<String> = referenced_roots(&code, &module)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(roots, ["metrics", "pipeline", "track", "privacy"]);
}

#[test]
fn an_upward_import_is_named_with_its_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "//! 1. [`config`]: leaf\n//! 2. [`events`], [`metrics`]: a\n//! 3. [`capture`]: b\n\
         //! 4. [`infer`]: c\n//! 5. [`detect`]: d\n//! 6. [`model`]: e\n//! 7. [`schedule`]: f\n\
         //! 8. [`track`]: g\n//! 9. [`rules`]: h\n//! 10. [`runtime`]: i\n",
    )
    .expect("write");
    for f in [
        "config", "events", "metrics", "capture", "infer", "detect", "model", "schedule", "track",
        "rules", "runtime",
    ] {
        std::fs::create_dir(src.join(f)).expect("mkdir");
        std::fs::write(
            src.join(f).join("mod.rs"),
            "use crate::config::ConfigError;\n",
        )
        .expect("write");
    }
    std::fs::write(src.join("capture/source.rs"), "use crate::runtime::run;\n").expect("write");
    std::fs::write(
        src.join("events/mod.rs"),
        "pub fn f() { super::metrics::m(); }\n",
    )
    .expect("write");
    let problems = violations(src);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/capture/source.rs: `crate::runtime::run;`: capture (layer 3) may not use runtime (layer 10)"),
        "{problems:#?}"
    );
    assert!(
        problems[1].contains("src/events/mod.rs")
            && problems[1].contains("may not use metrics (layer 2)"),
        "{problems:#?}"
    );
}
