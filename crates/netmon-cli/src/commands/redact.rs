//! Secrets out of a configuration before it goes into a support bundle.
//! The agent already redacts what its API shows; this is defence in depth
//! (an older agent, a setting it does not know to hide), by the same rule:
//! a setting is secret when its name says so.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Whether a setting named `name` holds a secret: it contains password,
/// token or secret, or ends with `_key` (any case).
pub fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "token", "secret"]
        .iter()
        .any(|word| name.contains(word))
        || name.ends_with("_key")
}

/// `tree` with every secret setting's value replaced by [`REDACTED`]. A
/// null stays null (nothing to hide, and it shows none is set); a section
/// is searched rather than hidden, so its other settings stay readable.
pub fn redact(tree: &Value) -> Value {
    match tree {
        Value::Object(section) => Value::Object(
            section
                .iter()
                .map(|(name, value)| {
                    let shown = match value {
                        Value::Null | Value::Object(_) => redact(value),
                        _ if is_secret(name) => Value::from(REDACTED),
                        _ => redact(value),
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
    fn settings_named_for_secrets_are_redacted_at_any_depth() {
        let config = json!({
            "export": {
                "clickhouse": {
                    "password": "hunter2",
                    "api_token": "t0k3n",
                    "Client_Secret": "s3cr3t",
                    "tls_private_key": "-----BEGIN PRIVATE KEY-----",
                    "auth_tokens": ["a", "b"],
                    "address": "db:9000",
                    "keyspace": "netmon",
                    "key_file": "/etc/netmon/tls.key",
                    "no_password": null
                },
                "sinks": [{"name": "s3", "secret_access_key": "AKIA..."}]
            },
            "flow": {"flow_timeout": "5m"}
        });
        assert_eq!(
            redact(&config),
            json!({
                "export": {
                    "clickhouse": {
                        "password": REDACTED,
                        "api_token": REDACTED,
                        "Client_Secret": REDACTED,
                        "tls_private_key": REDACTED,
                        "auth_tokens": REDACTED,
                        "address": "db:9000",
                        "keyspace": "netmon",
                        "key_file": "/etc/netmon/tls.key",
                        "no_password": null
                    },
                    "sinks": [{"name": "s3", "secret_access_key": REDACTED}]
                },
                "flow": {"flow_timeout": "5m"}
            })
        );
    }

    #[test]
    fn a_section_named_like_a_secret_keeps_its_harmless_settings() {
        let config = json!({"secrets": {"path": "/run/secrets", "token": "x"}});
        assert_eq!(
            redact(&config),
            json!({"secrets": {"path": "/run/secrets", "token": REDACTED}})
        );
    }

    #[test]
    fn a_configuration_without_secrets_is_unchanged() {
        let config =
            json!({"api": {"address": "127.0.0.1:9091"}, "capture": {"interfaces": ["eth0"]}});
        assert_eq!(redact(&config), config);
    }
}
