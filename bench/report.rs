//! The figures collected and the tables printed from them: medians with min and max
//! per tool, and ours divided by each anchor.

use std::collections::BTreeMap;

use crate::tools::Tool;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

pub struct Row {
    pub figure: String,
    pub better: Better,
    pub decimals: usize,
    pub samples: BTreeMap<Tool, Vec<f64>>,
    /// Why a tool has no figure in this row.
    pub missing: BTreeMap<Tool, String>,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Figures only ours has: (figure, value, target).
    pub ours_only: Vec<(String, String, String)>,
    pub notes: Vec<String>,
}

impl Report {
    /// The row named `figure`, created on first use.
    pub fn row(&mut self, figure: &str, better: Better, decimals: usize) -> &mut Row {
        if let Some(i) = self.rows.iter().position(|r| r.figure == figure) {
            return &mut self.rows[i];
        }
        self.rows.push(Row {
            figure: figure.to_owned(),
            better,
            decimals,
            samples: BTreeMap::new(),
            missing: BTreeMap::new(),
        });
        self.rows.last_mut().expect("just pushed")
    }

    pub fn add(&mut self, figure: &str, better: Better, decimals: usize, tool: Tool, v: f64) {
        self.row(figure, better, decimals)
            .samples
            .entry(tool)
            .or_default()
            .push(v);
    }

    pub fn miss(&mut self, figure: &str, better: Better, tool: Tool, why: &str) {
        self.row(figure, better, 0)
            .missing
            .insert(tool, why.to_owned());
    }

    pub fn print(&self, tools: &[Tool]) {
        println!("\n## Side by side (median, [min–max] where there are several runs)\n");
        let mut head = vec!["figure".to_owned()];
        head.extend(tools.iter().map(|t| t.name().to_owned()));
        let body: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut line = vec![r.figure.clone()];
                line.extend(tools.iter().map(|t| r.cell(*t)));
                line
            })
            .collect();
        print_table(&head, &body);

        let anchors: Vec<Tool> = tools.iter().copied().filter(|t| t.is_anchor()).collect();
        if tools.contains(&Tool::Ours) && !anchors.is_empty() {
            println!(
                "\n## Ours ÷ anchor (medians; < 1 is better for ours, except rows marked ↑ where > 1 is)\n"
            );
            let mut head = vec!["figure".to_owned()];
            head.extend(anchors.iter().map(|t| t.name().to_owned()));
            let body: Vec<Vec<String>> = self
                .rows
                .iter()
                .filter(|r| r.samples.contains_key(&Tool::Ours))
                .map(|r| {
                    let arrow = if r.better == Better::Higher {
                        " ↑"
                    } else {
                        ""
                    };
                    let mut line = vec![format!("{}{arrow}", r.figure)];
                    line.extend(anchors.iter().map(|t| r.ratio(*t)));
                    line
                })
                .collect();
            print_table(&head, &body);
        }
        if !self.ours_only.is_empty() {
            println!("\n## Ours only\n");
            let body: Vec<Vec<String>> = self
                .ours_only
                .iter()
                .map(|(a, b, c)| vec![a.clone(), b.clone(), c.clone()])
                .collect();
            print_table(
                &[
                    "figure".to_owned(),
                    "supervise".to_owned(),
                    "target".to_owned(),
                ],
                &body,
            );
        }
        if !self.notes.is_empty() {
            println!();
            for n in &self.notes {
                println!("- {n}");
            }
        }
    }
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// "1.23 [0.98–2.10]" for several samples, "1.23" for one.
pub fn summary(v: &[f64], decimals: usize) -> String {
    let m = median(v);
    if v.len() < 2 {
        return format!("{m:.decimals$}");
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if (hi - lo).abs() < 0.5 * 10f64.powi(-(decimals as i32)) {
        format!("{m:.decimals$}")
    } else {
        format!("{m:.decimals$} [{lo:.decimals$}–{hi:.decimals$}]")
    }
}

impl Row {
    fn cell(&self, t: Tool) -> String {
        match (self.samples.get(&t), self.missing.get(&t)) {
            (Some(v), _) => summary(v, self.decimals),
            (None, Some(why)) => why.clone(),
            (None, None) => "—".into(),
        }
    }

    fn ratio(&self, anchor: Tool) -> String {
        let (Some(ours), Some(theirs)) = (self.samples.get(&Tool::Ours), self.samples.get(&anchor))
        else {
            return "—".into();
        };
        let (a, b) = (median(ours), median(theirs));
        if b == 0.0 {
            return if a == 0.0 {
                "equal (0)".into()
            } else {
                "—".into()
            };
        }
        let r = a / b;
        // Two significant digits for small ratios (1.4 ms against 1005 ms).
        let decimals = if r > 0.0 {
            (1 - r.log10().floor() as i32).max(2) as usize
        } else {
            2
        };
        format!("{r:.decimals$}")
    }
}

fn print_table(head: &[String], body: &[Vec<String>]) {
    let cols = head.len();
    let width = |i: usize| {
        body.iter()
            .map(|r| r[i].chars().count())
            .chain([head[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..cols).map(width).collect();
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(head);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for r in body {
        line(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shows_spread_only_when_there_is_one() {
        assert_eq!(summary(&[1.0, 3.0, 2.0], 1), "2.0 [1.0–3.0]");
        assert_eq!(summary(&[2.0], 2), "2.00");
        assert_eq!(summary(&[2.0, 2.0], 0), "2");
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
