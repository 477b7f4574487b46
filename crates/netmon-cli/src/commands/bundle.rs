//! `support bundle --output FILE.tar.gz`: what a bug report needs, in one
//! archive under `netmon-support-<UTC time>/`.
//!
//! Each part is gathered on its own; a part that fails becomes
//! `<name>.error.txt` with the reason, so one unreachable endpoint never
//! costs the rest. Flows are left out on purpose: they carry the addresses
//! of other people's traffic.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use netmon_common::redact::redact;
use serde_json::Value;
use thiserror::Error;

use super::status::AgentStatus;
use crate::cli::{BundleArgs, DoctorArgs};
use crate::client::{with_query, AgentAddress, AgentClient, ClientError};
use crate::output::units;
use crate::output::Style;

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing to stdout: {0}")]
    Output(#[source] io::Error),
}

/// One file of the bundle, or why it could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: &'static str,
    pub content: Result<Vec<u8>, String>,
}

impl Part {
    fn new(name: &'static str, content: Result<Vec<u8>, String>) -> Self {
        Part { name, content }
    }

    /// The file name in the archive: the part's, or `<name>.error.txt`.
    pub fn file_name(&self) -> String {
        match &self.content {
            Ok(_) => self.name.to_owned(),
            Err(_) => format!("{}.error.txt", self.name),
        }
    }

    /// The file's bytes: the content, or the reason with a newline.
    pub fn bytes(&self) -> Vec<u8> {
        match &self.content {
            Ok(content) => content.clone(),
            Err(reason) => format!("{reason}\n").into_bytes(),
        }
    }
}

/// Text with exactly one final newline.
fn text(content: &str) -> Vec<u8> {
    format!("{}\n", content.trim_end()).into_bytes()
}

pub async fn run(agent: &AgentClient, args: &BundleArgs) -> Result<ExitCode, BundleError> {
    let status = agent.get_text(super::status::PATH).await;
    let config = agent.get_json::<Value>(super::config::PATH).await;
    let logs = agent
        .get_json::<Value>(&with_query(
            "/api/v1/logs",
            &[("lines", args.log_lines.to_string())],
        ))
        .await;
    let stats = agent.get_text(super::stats::PATH).await;
    let unreachable = [
        status.as_ref().err(),
        config.as_ref().err(),
        logs.as_ref().err(),
        stats.as_ref().err(),
    ]
    .into_iter()
    .all(|error| error.is_some_and(is_unreachable));

    let parsed_status = status
        .as_ref()
        .map_err(ToString::to_string)
        .and_then(|body| {
            serde_json::from_str::<AgentStatus>(body)
                .map_err(|e| format!("the agent's status could not be read: {e}"))
        });
    let metrics = match metrics_source(args.metrics_url.as_deref(), config.as_ref()) {
        Ok((client, path)) => client
            .get_text(&path)
            .await
            .map(|body| text(&body))
            .map_err(|e| scrape_error(&client, &path, e)),
        Err(reason) => Err(reason),
    };
    let doctor = crate::doctor::checks(&DoctorArgs::defaults());
    let parts = vec![
        Part::new("versions.txt", Ok(versions(parsed_status.as_ref()))),
        Part::new(
            "status.json",
            status.as_deref().map(text).map_err(ToString::to_string),
        ),
        Part::new("config.yaml", config_yaml(config.as_ref())),
        Part::new(
            "doctor.txt",
            Ok(text(&crate::doctor::render_text(
                &doctor,
                &Style { color: false },
            ))),
        ),
        Part::new(
            "doctor.json",
            serde_json::to_string_pretty(&doctor)
                .map(|json| text(&json))
                .map_err(|e| format!("the doctor report could not be encoded: {e}")),
        ),
        Part::new("programs.txt", programs(parsed_status.as_ref())),
        Part::new("metrics.prom", metrics),
        Part::new("logs.txt", log_lines(logs.as_ref())),
        Part::new(
            "stats.json",
            stats.as_deref().map(text).map_err(ToString::to_string),
        ),
    ];

    let top = format!("netmon-support-{}", compact_utc(SystemTime::now()));
    write_archive(&args.output, &top, &parts).map_err(|source| BundleError::Write {
        path: args.output.clone(),
        source,
    })?;
    print_summary(&args.output, &top, &parts).map_err(BundleError::Output)?;
    if unreachable {
        eprintln!(
            "netmon-cli: the agent at {} could not be reached: the bundle holds only what this machine could tell",
            agent.address()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn scrape_error(client: &AgentClient, path: &str, error: ClientError) -> String {
    let url = format!("{}{path}", client.address());
    match error {
        ClientError::Connect { source, .. } => format!(
            "scraping {url}: cannot reach it: {source} (give --metrics-url where the agent's metrics listener is reachable)"
        ),
        other => format!("scraping {url}: {other}"),
    }
}

fn is_unreachable(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Connect { .. } | ClientError::ConnectTimeout { .. }
    )
}

/// netmon-cli's version, the agent's, and the kernel's release.
fn versions(status: Result<&AgentStatus, &String>) -> Vec<u8> {
    let agent = match status {
        Ok(status) => format!("{} (node {})", status.version, status.node),
        Err(reason) => format!("unknown ({reason})"),
    };
    let kernel = kernel_release().unwrap_or_else(|e| format!("unknown ({e})"));
    text(&format!(
        "netmon-cli {}\nnetmon agent {agent}\nkernel (uname -r) {kernel}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// `uname -r`.
fn kernel_release() -> io::Result<String> {
    fs::read_to_string("/proc/sys/kernel/osrelease").map(|release| release.trim().to_owned())
}

/// The agent's configuration answer as YAML, secrets redacted here too.
fn config_yaml(config: Result<&Value, &ClientError>) -> Result<Vec<u8>, String> {
    let config = config.map_err(ToString::to_string)?;
    serde_yaml::to_string(&redact(config))
        .map(|yaml| yaml.into_bytes())
        .map_err(|e| format!("the configuration could not be written as YAML: {e}"))
}

fn log_lines(logs: Result<&Value, &ClientError>) -> Result<Vec<u8>, String> {
    let logs = logs.map_err(ToString::to_string)?;
    let lines = logs
        .get("lines")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("the agent's log answer has no \"lines\": {logs}"))?;
    if lines.is_empty() {
        return Ok(text("(the agent has no log lines)"));
    }
    let joined: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
    Ok(text(&joined.join("\n")))
}

/// The programs the agent attached (from its status), then the kernel's
/// own listing by bpftool when it is installed.
fn programs(status: Result<&AgentStatus, &String>) -> Result<Vec<u8>, String> {
    let mut out = String::new();
    match status {
        Ok(status) => {
            out.push_str("# attached by the agent (GET /api/v1/status)\n");
            for interface in &status.interfaces {
                out.push_str(&format!(
                    "{} ifindex {} {}: {}\n",
                    interface.name,
                    interface.ifindex,
                    interface.attach_mode,
                    interface.programs.join(", ")
                ));
            }
            if status.interfaces.is_empty() {
                out.push_str("(no interface attached)\n");
            }
        }
        Err(reason) => out.push_str(&format!("# the agent's status: {reason}\n")),
    }
    let mut bpftool_found = false;
    for args in [["prog", "show"], ["net", "show"], ["link", "show"]] {
        match Command::new("bpftool").args(args).output() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => out.push_str(&format!("\n# bpftool {}: {e}\n", args.join(" "))),
            Ok(output) => {
                bpftool_found = true;
                out.push_str(&format!("\n# bpftool {}\n", args.join(" ")));
                out.push_str(&String::from_utf8_lossy(&output.stdout));
                let stderr = String::from_utf8_lossy(&output.stderr);
                if !output.status.success() || !stderr.trim().is_empty() {
                    out.push_str(&format!("# ({}) {}\n", output.status, stderr.trim()));
                }
            }
        }
    }
    if !bpftool_found {
        if let Err(reason) = status {
            return Err(format!(
                "the agent's status: {reason}; and bpftool is not installed, so no listing of programs could be made"
            ));
        }
        out.push_str("\n# bpftool is not installed: the kernel's own listing is missing\n");
    }
    Ok(text(&out))
}

/// Where the metrics are scraped: `--metrics-url`, or the agent's
/// `export.prometheus` address (a wildcard address means this host).
fn metrics_source(
    url: Option<&str>,
    config: Result<&Value, &ClientError>,
) -> Result<(AgentClient, String), String> {
    if let Some(url) = url {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("--metrics-url {url:?}: expected http://HOST:PORT[/PATH]"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].to_owned()),
            None => (rest, "/metrics".to_owned()),
        };
        let address =
            AgentAddress::parse(authority).map_err(|e| format!("--metrics-url {url:?}: {e}"))?;
        return Ok((AgentClient::new(address), path));
    }
    let config = config.map_err(|e| {
        format!("the metrics address comes from the agent's configuration, which could not be read ({e}); give --metrics-url")
    })?;
    let prometheus = &config["config"]["export"]["prometheus"];
    if prometheus["enabled"] == Value::Bool(false) {
        return Err("export.prometheus.enabled is false: the agent serves no metrics".into());
    }
    let (Some(address), Some(port)) = (prometheus["address"].as_str(), prometheus["port"].as_u64())
    else {
        return Err(format!(
            "export.prometheus has no address and port in the agent's configuration: {prometheus}; give --metrics-url"
        ));
    };
    let host = match address {
        "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    let authority = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let address = AgentAddress::parse(&authority).map_err(|e| e.to_string())?;
    Ok((AgentClient::new(address), "/metrics".to_owned()))
}

/// `20251203T170000Z`: an RFC 3339 UTC time without separators, fit for a
/// file name.
pub fn compact_utc(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .to_string()
        .replace(['-', ':'], "")
}

/// Writes the archive next to its final path and renames it into place, so
/// a failure never leaves a half-written bundle under the asked-for name.
/// Mode 0600: logs and configuration are for the person who asked.
fn write_archive(output: &Path, top: &str, parts: &[Part]) -> io::Result<()> {
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = write_tar_gz(&partial, top, parts).and_then(|()| fs::rename(&partial, output));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

fn write_tar_gz(path: &Path, top: &str, parts: &[Part]) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let mtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut archive = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    for part in parts {
        let bytes = part.bytes();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        archive.append_data(
            &mut header,
            format!("{top}/{}", part.file_name()),
            bytes.as_slice(),
        )?;
    }
    let encoder: GzEncoder<File> = archive.into_inner()?;
    let file = encoder.finish()?;
    file.sync_all()
}

fn print_summary(output: &Path, top: &str, parts: &[Part]) -> io::Result<()> {
    let name_width = parts.iter().map(|p| p.file_name().len()).max().unwrap_or(0);
    let mut out = io::stdout().lock();
    writeln!(out, "wrote {}", output.display())?;
    writeln!(out, "{top}/")?;
    for part in parts {
        writeln!(
            out,
            "  {:<name_width$}  {}",
            part.file_name(),
            units::bytes(part.bytes().len() as u64)
        )?;
    }
    out.flush()?;
    for part in parts {
        if let Err(reason) = &part.content {
            eprintln!("netmon-cli: {}: {reason}", part.name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_part_becomes_an_error_file_with_its_reason() {
        let failed = Part::new("metrics.prom", Err("connection refused".into()));
        assert_eq!(failed.file_name(), "metrics.prom.error.txt");
        assert_eq!(failed.bytes(), b"connection refused\n");
        let fine = Part::new("stats.json", Ok(b"{}\n".to_vec()));
        assert_eq!(fine.file_name(), "stats.json");
    }

    #[test]
    fn the_metrics_address_of_a_wildcard_listener_is_this_host() {
        let config = |address: &str| serde_json::json!({"config": {"export": {"prometheus": {"enabled": true, "address": address, "port": 9090}}}});
        let (client, path) = metrics_source(None, Ok(&config("0.0.0.0"))).unwrap();
        assert_eq!(
            (client.address().to_string(), path.as_str()),
            ("http://127.0.0.1:9090".to_owned(), "/metrics")
        );
        let (client, _) = metrics_source(None, Ok(&config("::"))).unwrap();
        assert_eq!(client.address().to_string(), "http://[::1]:9090");
        let (client, _) = metrics_source(None, Ok(&config("10.0.0.5"))).unwrap();
        assert_eq!(client.address().to_string(), "http://10.0.0.5:9090");
    }

    #[test]
    fn a_metrics_url_wins_and_may_name_its_path() {
        let (client, path) = metrics_source(
            Some("http://127.0.0.1:9100/custom"),
            Err(&ClientError::Encode(
                serde_json::from_str::<Value>("x").unwrap_err(),
            )),
        )
        .unwrap();
        assert_eq!(
            (client.address().to_string(), path.as_str()),
            ("http://127.0.0.1:9100".to_owned(), "/custom")
        );
        assert_eq!(
            metrics_source(Some("https://x:1"), Ok(&Value::Null)).unwrap_err(),
            "--metrics-url \"https://x:1\": expected http://HOST:PORT[/PATH]"
        );
    }

    #[test]
    fn disabled_metrics_are_a_reason_not_a_guess() {
        let config = serde_json::json!({"config": {"export": {"prometheus": {"enabled": false, "address": "0.0.0.0", "port": 9090}}}});
        assert_eq!(
            metrics_source(None, Ok(&config)).unwrap_err(),
            "export.prometheus.enabled is false: the agent serves no metrics"
        );
    }

    #[test]
    fn the_config_file_of_the_bundle_has_no_secret_values() {
        let answer = serde_json::json!({
            "path": null,
            "config": {"export": {"sink": {"password": "hunter2", "address": "db:9000"}}},
            "restart_required": []
        });
        let yaml = String::from_utf8(config_yaml(Ok(&answer)).unwrap()).unwrap();
        assert_eq!(
            yaml,
            "config:\n  export:\n    sink:\n      address: db:9000\n      password: <redacted>\npath: null\nrestart_required: []\n"
        );
    }

    #[test]
    fn log_lines_are_one_per_line() {
        let logs = serde_json::json!({"lines": ["a INFO started", "b WARN slow"]});
        assert_eq!(
            log_lines(Ok(&logs)).unwrap(),
            b"a INFO started\nb WARN slow\n"
        );
        let none = serde_json::json!({"lines": []});
        assert_eq!(
            log_lines(Ok(&none)).unwrap(),
            b"(the agent has no log lines)\n"
        );
    }

    #[test]
    fn the_top_directory_is_named_after_the_utc_time() {
        let time = UNIX_EPOCH + std::time::Duration::from_secs(1_764_781_200);
        assert_eq!(compact_utc(time), "20251203T170000Z");
    }
}
