//! The result of a semantic check, as the loader needs it.

use crate::error::ConfigProblem;

/// A failed check: the problem, plus the other settings its judgement
/// depends on, so the loader can drop it when one of those was rejected and
/// only holds its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub problem: ConfigProblem,
    pub also_involves: Vec<&'static str>,
}

impl Check {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problem: ConfigProblem::new(path, message),
            also_involves: Vec::new(),
        }
    }

    pub fn involving(mut self, settings: &[&'static str]) -> Self {
        self.also_involves.extend_from_slice(settings);
        self
    }

    /// Every setting this check looked at.
    pub fn settings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.problem.path.as_str()).chain(self.also_involves.iter().copied())
    }
}

/// The problems of `checks`, in order: what a model's `validate` returns.
pub fn problems(checks: Vec<Check>) -> Vec<ConfigProblem> {
    checks.into_iter().map(|check| check.problem).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_looks_at_its_own_setting_first_then_the_ones_it_involves() {
        let check = Check::new("queue.max_rows", "too small").involving(&["batching.max_rows"]);
        let settings: Vec<&str> = check.settings().collect();
        assert_eq!(settings, ["queue.max_rows", "batching.max_rows"]);
        assert_eq!(
            problems(vec![check])[0].to_string(),
            "queue.max_rows: too small"
        );
    }
}
