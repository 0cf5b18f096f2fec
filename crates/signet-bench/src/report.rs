//! The result table: each figure, each ratio with its goal, and PASS/SHORT.

pub enum Target {
    AtLeast(f64),
    AtMost(f64),
}

struct Row {
    goal: String,
    label: String,
    value: String,
    target: String,
    pass: Option<bool>,
    note: String,
}

#[derive(Default)]
pub struct Table {
    goal: String,
    rows: Vec<Row>,
    warnings: Vec<String>,
}

/// 12345.6 -> "12,346".
pub fn thousands(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn per_sec(x: f64) -> String {
    if x < 1000.0 { format!("{x:.1}/s") } else { format!("{}/s", thousands(x)) }
}

impl Table {
    /// The goal number that the following rows belong to.
    pub fn section(&mut self, goal: &str) {
        self.goal = goal.to_owned();
    }

    /// Warns when a baseline measured before and after a load moved by more
    /// than a fifth: something else was using the cores, and the ratio is suspect.
    pub fn check_steady(&mut self, what: &str, before: f64, after: f64) {
        let (lo, hi) = (before.min(after), before.max(after));
        if lo <= 0.0 || hi / lo > 1.2 {
            self.warnings.push(format!(
                "goal {}: {what} moved from {} to {} during the run; the machine was busy, so rerun before trusting this ratio",
                self.goal,
                per_sec(before),
                per_sec(after)
            ));
        }
    }

    /// A warning printed under the table, naming the current goal.
    pub fn warn(&mut self, what: String) {
        self.warnings.push(format!("goal {}: {what}", self.goal));
    }

    /// A figure with no goal of its own.
    pub fn info(&mut self, label: &str, value: String, note: &str) {
        self.push(label, value, String::new(), None, note);
    }

    /// A ratio measured against its goal.
    pub fn ratio(&mut self, label: &str, ratio: f64, target: Target, note: &str) {
        let (pass, target) = match target {
            Target::AtLeast(t) => (ratio >= t, format!(">= {t}x")),
            Target::AtMost(t) => (ratio <= t, format!("<= {t}x")),
        };
        self.push(label, format!("{ratio:.2}x"), target, Some(pass), note);
    }

    /// An absolute figure measured against its goal.
    pub fn limit(&mut self, label: &str, value: f64, unit: &str, target: Target, note: &str) {
        let (pass, target) = match target {
            Target::AtLeast(t) => (value >= t, format!(">= {t} {unit}")),
            Target::AtMost(t) => (value <= t, format!("<= {t} {unit}")),
        };
        self.push(label, format!("{value:.1} {unit}"), target, Some(pass), note);
    }

    fn push(&mut self, label: &str, value: String, target: String, pass: Option<bool>, note: &str) {
        self.rows.push(Row {
            goal: self.goal.clone(),
            label: label.to_owned(),
            value,
            target,
            pass,
            note: note.to_owned(),
        });
    }

    pub fn print(&self) {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
        println!(
            "signet-bench: {cores} cores, load from wrk -t1 -c16 on the same cores; 1 MB = 10^6 bytes; x = ratio to the baseline"
        );
        let w = |f: fn(&Row) -> usize, min: usize| self.rows.iter().map(f).max().unwrap_or(0).max(min);
        let (wl, wv, wt) = (w(|r| r.label.len(), 7), w(|r| r.value.len(), 5), w(|r| r.target.len(), 4));
        println!("{:<3} {:<wl$}  {:>wv$}  {:<wt$}  {:<6} notes", "#", "measure", "value", "goal", "result");
        println!("{}", "-".repeat(3 + wl + wv + wt + 6 + 14));
        for r in &self.rows {
            let result = match r.pass {
                Some(true) => "PASS",
                Some(false) => "SHORT",
                None => "",
            };
            println!("{:<3} {:<wl$}  {:>wv$}  {:<wt$}  {:<6} {}", r.goal, r.label, r.value, r.target, result, r.note);
        }
        let judged: Vec<_> = self.rows.iter().filter_map(|r| r.pass).collect();
        let passed = judged.iter().filter(|p| **p).count();
        println!("{passed} of {} goals met", judged.len());
        for w in &self.warnings {
            println!("WARNING: {w}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
