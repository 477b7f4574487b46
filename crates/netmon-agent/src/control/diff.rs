//! Which settings differ between two configurations, compared leaf by leaf
//! over the same key tree the loader checks files against, so every
//! setting the file can hold is compared and reported by its dotted name.

use serde_json::Value;

use crate::config::{self, Config};

/// The configuration as a JSON tree: sections are objects, settings are
/// leaves spelled as in the file (durations as `5s`, addresses as text).
pub fn tree(config: &Config) -> Value {
    serde_json::to_value(config)
        .expect("the model has only string keys and plain values, which always serialize")
}

/// The node at a dotted `key` (a setting or a whole section).
pub fn at<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.')
        .try_fold(tree, |node, segment| node.as_object()?.get(segment))
}

/// Every setting whose value differs between `before` and `after`, in
/// model order.
pub fn changed_settings(before: &Config, after: &Config) -> Vec<String> {
    let (before, after) = (tree(before), tree(after));
    config::settings()
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| at(&before, key) != at(&after, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::LogLevel;

    #[test]
    fn identical_configurations_have_no_changed_settings() {
        assert!(changed_settings(&Config::default(), &Config::default()).is_empty());
    }

    #[test]
    fn each_changed_leaf_is_named_once_in_model_order() {
        let mut after = Config::default();
        after.log.level = LogLevel::Debug;
        after.flow.flow_timeout = Duration::from_secs(5);
        after.capture.interfaces = vec!["eth0".into()];
        after.features.protocol_detection.protocols.pop();
        assert_eq!(
            changed_settings(&Config::default(), &after),
            [
                "capture.interfaces",
                "flow.flow_timeout",
                "features.protocol_detection.protocols",
                "log.level",
            ]
        );
    }

    #[test]
    fn a_dotted_key_finds_a_setting_or_a_section_and_nothing_else() {
        let tree = tree(&Config::default());
        assert_eq!(at(&tree, "flow.flow_timeout"), Some(&Value::from("1m")));
        assert_eq!(
            at(&tree, "log"),
            Some(&serde_json::json!({"level": "info", "format": "text"}))
        );
        assert_eq!(at(&tree, "flow.flow_timeout.more"), None);
        assert_eq!(at(&tree, "flow.nothing"), None);
    }
}
