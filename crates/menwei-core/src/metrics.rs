//! Prometheus text exposition, written by hand.
//!
//! Each crate keeps its counters as plain atomics next to the thing they count and writes them
//! out through [`MetricsText`] when `/metrics` is scraped, so no crate needs a metrics registry
//! or a global. Names follow `menwei_<subsystem>_<name>_<unit>`; labels carry cameras, gates and
//! outcomes, never plates or people.

use std::fmt::Write as _;

/// The kind of a metric family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A Prometheus text-format document being built.
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
    families: Vec<String>,
}

impl MetricsText {
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes one sample. The `# HELP` and `# TYPE` lines are written the first time a name is
    /// seen, so all samples of one family must be written together.
    pub fn sample(&mut self, name: &str, kind: Kind, help: &str, labels: &[(&str, &str)], value: f64) {
        if !self.families.iter().any(|f| f == name) {
            self.families.push(name.to_owned());
            let kind = match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(self.out, "# HELP {name} {help}");
            let _ = writeln!(self.out, "# TYPE {name} {kind}");
        }
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                for ch in v.chars() {
                    match ch {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_help_and_type_once_and_escapes_labels() {
        let mut m = MetricsText::new();
        m.sample("menwei_x_total", Kind::Counter, "X.", &[("camera", "a\"b")], 1.0);
        m.sample("menwei_x_total", Kind::Counter, "X.", &[("camera", "c")], 2.5);
        let t = m.finish();
        assert_eq!(
            t,
            "# HELP menwei_x_total X.\n# TYPE menwei_x_total counter\nmenwei_x_total{camera=\"a\\\"b\"} 1\n\
             menwei_x_total{camera=\"c\"} 2.5\n"
        );
    }
}
