//! Secrets never leave the agent through its API: a setting whose name
//! says it holds one is shown as `<redacted>`. The rule lives in
//! netmon-common, where netmon-cli's support bundle applies it too.

pub use netmon_common::redact::{is_secret, redact, REDACTED};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_setting_of_todays_model_is_hidden() {
        let tree = super::super::diff::tree(&crate::config::Config::default());
        assert_eq!(redact(&tree), tree);
    }
}
