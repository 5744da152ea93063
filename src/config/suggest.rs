//! "Did you mean": one rule for every suggestion lookout makes, for unknown keys, variants, model
//! names, labels, zones and event kinds alike.

/// Adds "did you mean `x`?" to serde's unknown-field and unknown-variant messages.
pub(crate) fn suggest(message: &str) -> String {
    let Some((got, expected)) = parse_unknown(message) else {
        return message.to_string();
    };
    match closest(&got, expected.iter().map(String::as_str)) {
        Some(cand) => format!("{message}; did you mean `{cand}`?"),
        None => message.to_string(),
    }
}

/// The candidate closest to `got` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(got: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|cand| (strsim::levenshtein(got, cand), cand))
        .filter(|(d, cand)| *d <= (cand.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, cand)| cand)
}

/// Pulls `x` and `[a, b, ...]` out of "unknown field `x`, expected one of `a`, `b`".
fn parse_unknown(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message
        .split_once("unknown field `")
        .or_else(|| message.split_once("unknown variant `"))?
        .1;
    let (got, rest) = rest.split_once('`')?;
    let expected = match rest.split_once("expected") {
        Some((_, list)) => list
            .trim_start_matches(" one of")
            .split([',', '`', ' '])
            .filter(|w| !w.is_empty() && *w != "or")
            .map(str::to_string)
            .collect::<Vec<_>>(),
        None => Vec::new(),
    };
    Some((got.to_string(), expected))
}

/// `"; did you mean `x`?"` when a candidate is close to `got`, else an empty string: the tail every
/// "unknown name" message ends with.
pub fn did_you_mean<'a>(got: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(got, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_field() {
        let m = suggest("unknown field `sourse`, expected one of `name`, `source`, `width`");
        assert!(m.ends_with("did you mean `source`?"), "{m}");
    }

    #[test]
    fn no_suggestion_when_far() {
        let m = suggest("unknown field `zzzzzzzz`, expected one of `name`, `source`");
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn suggests_variant() {
        let m = suggest("unknown variant `lates`, expected `latest` or `block`");
        assert!(m.ends_with("did you mean `latest`?"), "{m}");
    }

    #[test]
    fn suggests_without_backticks() {
        let m = suggest("unknown field `sourse`, expected one of name, source, width");
        assert!(m.ends_with("did you mean `source`?"), "{m}");
    }

    #[test]
    fn did_you_mean_tail() {
        assert_eq!(
            did_you_mean("persn", ["person", "car"]),
            "; did you mean `person`?"
        );
        assert_eq!(did_you_mean("zzzzzz", ["person", "car"]), "");
    }
}
