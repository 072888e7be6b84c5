//! How keywords and enumerated values compare (case and whitespace ignored), the nearest known
//! spelling for a typo, and values shortened for error messages.

/// Lowercase with every whitespace removed: how keywords and enumerated values compare.
pub(super) fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Bounds a user-supplied value shown in an error (a pasted blob must not flood the logs).
pub(super) fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        value.to_owned()
    } else {
        let mut s: String = value.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// The candidate nearest to `norm` (already normalized) by edit distance, if near enough.
pub(super) fn nearest(
    norm: &str,
    candidates: impl Iterator<Item = &'static str>,
) -> Option<&'static str> {
    let limit = (norm.chars().count() / 3).max(2);
    candidates
        .map(|c| (edit_distance(norm, &normalize(c)), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars, bounded to keep a hostile input cheap.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
