//! Reads the Prometheus text exposition format (what `/metrics` serves and what the metrics
//! tests scrape): one sample per line, `name{label="value",...} number`.
#![allow(dead_code)]

/// The sum of the samples of `name` whose labels include every pair in `labels` (several
/// samples can match when `labels` leaves some out); `None` when none does.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(split) => split,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let has_all = labels.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if !has_all {
            continue;
        }
        if let Ok(v) = value.parse::<f64>() {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
}

/// Like [`sample`], 0 when no sample matches (a counter not yet incremented is absent).
pub fn count(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(text, name, labels).unwrap_or(0.0)
}

/// The `# TYPE` line's type of `name` (`counter`, `gauge`, `histogram`).
pub fn kind<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("# TYPE {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_matched_by_name_and_labels_and_summed() {
        let text = "# TYPE a_total counter\n\
                    a_total{x=\"1\",y=\"2\"} 3\n\
                    a_total{x=\"1\",y=\"3\"} 4\n\
                    a_total_more{x=\"1\"} 100\n\
                    b 2.5\n";
        assert_eq!(sample(text, "a_total", &[("x", "1")]), Some(7.0));
        assert_eq!(sample(text, "a_total", &[("y", "3")]), Some(4.0));
        assert_eq!(sample(text, "a_total", &[("y", "4")]), None);
        assert_eq!(sample(text, "b", &[]), Some(2.5));
        assert_eq!(count(text, "c", &[]), 0.0);
        assert_eq!(kind(text, "a_total"), Some("counter"));
    }
}
