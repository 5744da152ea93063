//! A pipeline file with environment substitution: any text, any environment values, never a panic,
//! and an environment value never adds structure (it stays one scalar).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first line is the value of every variable; the rest is the file.
    let text = String::from_utf8_lossy(data);
    let (value, file) = text.split_once('\n').unwrap_or(("", &text));
    let lookup = |_: &str| Some(value.to_string());
    let _ = lookout::pipeline::load_str(file, Path::new("/nonexistent/fuzz.yaml"), lookup);
    // Substitution alone: the result must still be YAML with the same lines.
    if let Ok(s) = lookout::config::env::substitute(file, lookup) {
        let before = file.matches('\n').count();
        let after = s.text.matches('\n').count();
        assert_eq!(before, after, "substitution changed the number of lines");
    }
});
