//! Secrets never leave the agent through its API: a setting whose name
//! says it holds one is shown as `<redacted>`. Decided by name, not by a
//! list of today's settings, so a setting added later is covered by
//! being named like what it holds.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Whether a setting called `name` (the last part of its dotted key) holds
/// a secret.
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|word| name.contains(word))
        || name.ends_with("_key")
}

/// `tree` with the value of every secret setting replaced. An unset
/// (null) secret stays null: there is nothing to hide, and it shows that
/// none is configured.
pub fn redact(tree: &Value) -> Value {
    match tree {
        Value::Object(section) => Value::Object(
            section
                .iter()
                .map(|(name, value)| {
                    let shown = if is_secret(name) && !value.is_null() && !value.is_object() {
                        Value::from(REDACTED)
                    } else {
                        redact(value)
                    };
                    (name.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        leaf => leaf.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_named_for_secrets_are_redacted_wherever_they_are() {
        let tree = json!({
            "export": {
                "sink": {
                    "password": "hunter2",
                    "api_token": "t0k3n",
                    "client_secret": "s3cr3t",
                    "tls_private_key": "-----BEGIN PRIVATE KEY-----",
                    "api_key": "k",
                    "auth_tokens": ["a", "b"],
                    "address": "db:5432",
                    "key_file_path": "/etc/key",
                    "unset_password": null,
                },
                "servers": [{"password": "p", "host": "h"}],
            },
            "flow": {"flow_timeout": "1m"},
        });
        assert_eq!(
            redact(&tree),
            json!({
                "export": {
                    "sink": {
                        "password": "<redacted>",
                        "api_token": "<redacted>",
                        "client_secret": "<redacted>",
                        "tls_private_key": "<redacted>",
                        "api_key": "<redacted>",
                        "auth_tokens": "<redacted>",
                        "address": "db:5432",
                        "key_file_path": "/etc/key",
                        "unset_password": null,
                    },
                    "servers": [{"password": "<redacted>", "host": "h"}],
                },
                "flow": {"flow_timeout": "1m"},
            })
        );
    }

    #[test]
    fn a_section_named_like_a_secret_is_searched_not_hidden_whole() {
        let tree = json!({"secrets": {"path": "/run/secrets", "token": "t"}});
        assert_eq!(
            redact(&tree),
            json!({"secrets": {"path": "/run/secrets", "token": "<redacted>"}})
        );
    }

    #[test]
    fn no_setting_of_todays_model_is_hidden() {
        let tree = super::super::diff::tree(&crate::config::Config::default());
        assert_eq!(redact(&tree), tree);
    }
}
