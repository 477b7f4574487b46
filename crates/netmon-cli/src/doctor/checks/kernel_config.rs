//! The running kernel's build options (`CONFIG_*`), from /proc/config.gz
//! or /boot/config-<release>, for features no syscall can probe without
//! changing the machine.

use std::io::Read;

/// What the kernel's configuration says about one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOption {
    /// `CONFIG_X=<value>`: `y` built in, `m` a module.
    Set(String),
    /// `# CONFIG_X is not set`, or absent from a readable configuration.
    NotSet,
}

/// The kernel's configuration text, if this machine publishes it.
pub fn read(release: Option<&str>) -> Option<(String, String)> {
    if let Some(text) = read_gzip("/proc/config.gz") {
        return Some(("/proc/config.gz".to_string(), text));
    }
    let path = format!("/boot/config-{}", release?);
    let text = std::fs::read_to_string(&path).ok()?;
    Some((path, text))
}

fn read_gzip(path: &str) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// `option` (with its `CONFIG_` prefix) in a configuration's text.
pub fn lookup(config: &str, option: &str) -> ConfigOption {
    for line in config.lines() {
        if let Some(value) = line
            .strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
        {
            return ConfigOption::Set(value.trim().to_string());
        }
    }
    ConfigOption::NotSet
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# Networking
CONFIG_NET_SCH_INGRESS=y
CONFIG_NET_SCH_INGRESS_EXTRA=m
# CONFIG_NET_SCH_FQ is not set
CONFIG_NET_CLS_BPF=m
";

    #[test]
    fn an_option_is_built_in_a_module_or_not_set() {
        assert_eq!(
            lookup(CONFIG, "CONFIG_NET_SCH_INGRESS"),
            ConfigOption::Set("y".to_string())
        );
        assert_eq!(
            lookup(CONFIG, "CONFIG_NET_CLS_BPF"),
            ConfigOption::Set("m".to_string())
        );
        assert_eq!(lookup(CONFIG, "CONFIG_NET_SCH_FQ"), ConfigOption::NotSet);
        assert_eq!(lookup(CONFIG, "CONFIG_KPROBES"), ConfigOption::NotSet);
    }
}
