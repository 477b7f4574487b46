//! The one rule for keeping secrets out of what netmon shows: a setting
//! whose name says it holds a secret is shown as [`REDACTED`]. The agent's
//! API and netmon-cli's support bundle both apply it, so an older agent's
//! answer is redacted by the CLI exactly as a current agent would. Decided
//! by name, not by a list of today's settings, so a setting added later is
//! covered by being named like what it holds.

use serde_json::Value;

pub const REDACTED: &str = "<redacted>";

/// Whether a setting named `name` (the last part of its dotted key) holds
/// a secret: it contains password, token or secret, or ends with `_key`
/// (any case).
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
                    "api_key": "k",
                    "auth_tokens": ["a", "b"],
                    "address": "db:9000",
                    "keyspace": "netmon",
                    "key_file": "/etc/netmon/tls.key",
                    "key_file_path": "/etc/key",
                    "no_password": null
                },
                "servers": [{"password": "p", "host": "h"}],
                "sinks": [{"name": "s3", "secret_access_key": "AKIA..."}]
            },
            "flow": {"flow_timeout": "5m"}
        });
        assert_eq!(
            redact(&config),
            json!({
                "export": {
                    "clickhouse": {
                        "password": "<redacted>",
                        "api_token": "<redacted>",
                        "Client_Secret": "<redacted>",
                        "tls_private_key": "<redacted>",
                        "api_key": "<redacted>",
                        "auth_tokens": "<redacted>",
                        "address": "db:9000",
                        "keyspace": "netmon",
                        "key_file": "/etc/netmon/tls.key",
                        "key_file_path": "/etc/key",
                        "no_password": null
                    },
                    "servers": [{"password": "<redacted>", "host": "h"}],
                    "sinks": [{"name": "s3", "secret_access_key": "<redacted>"}]
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
            json!({"secrets": {"path": "/run/secrets", "token": "<redacted>"}})
        );
    }

    #[test]
    fn a_configuration_without_secrets_is_unchanged() {
        let config =
            json!({"api": {"address": "127.0.0.1:9091"}, "capture": {"interfaces": ["eth0"]}});
        assert_eq!(redact(&config), config);
    }
}
