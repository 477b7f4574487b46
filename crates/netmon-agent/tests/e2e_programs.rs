//! Custom eBPF programs (`programs:`): the examples under
//! `examples/programs/` are compiled with clang-19, loaded by the real agent
//! beside its own programs, and what the test itself does (connects between
//! its pods, system calls of a thread it names, direct writes to a loop
//! device it creates) must show up in the scraped metrics with exact
//! counts. Tracepoints see the whole machine, so each assertion selects the
//! test's own events: by the topology's unique subnet, the thread's unique
//! name, the loop device's name.

mod support;

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netmon_kube_fake::FakeApiServer;
use serde_json::json;
use support::agent::{Agent, AgentConfig, FlowQuery, KubernetesSettings, Metrics};
use support::in_netns::in_netns;
use support::netns::{IpVersion, Offloads, Topology};
use support::nft::{count_flow, FlowMatch};
use support::traffic::{connect_refused, ping, tcp_exchange};
use support::{
    eventually, missing_prerequisites, run, unique_tag, TempDir, TestNode, TOPOLOGY_TOOLS,
};

const CLANG: &str = "clang-19";
const PREFIX: &str = "ebpf_exporter_";

/// Compiles `source` (a `.bpf.c`) into `dir` as the build line does.
fn compile(source: &Path, dir: &Path) -> PathBuf {
    let name = source
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".bpf.c", ".bpf.o");
    let object = dir.join(name);
    run(Command::new(CLANG)
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            "-D__TARGET_ARCH_x86",
            "-Wall",
            "-Werror",
        ])
        .arg("-I/usr/include/x86_64-linux-gnu")
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(&object));
    object
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An example's compiled object and its YAML.
fn example(name: &str, dir: &Path) -> (PathBuf, PathBuf) {
    let examples = repo().join("examples/programs");
    let object = compile(&examples.join(format!("{name}.bpf.c")), dir);
    (object, examples.join(format!("{name}.yaml")))
}

/// The `programs:` section for (name, object, config) entries.
fn programs_yaml(entries: &[(&str, &Path, &Path)]) -> String {
    let mut yaml = String::from("programs:\n");
    for (name, object, config) in entries {
        yaml.push_str(&format!(
            "  - name: {name}\n    object: {}\n    config: {}\n",
            object.display(),
            config.display()
        ));
    }
    yaml
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// `/metrics` as text, after checking it with `promtool check metrics`.
fn scrape_checked(node: &TestNode) -> Metrics {
    let body = node.agent.get_metrics_listener("/metrics").body;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .output_with_stdin(&body);
    assert!(
        promtool.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&std::mem::take(&mut promtool.stderr))
    );
    Metrics::parse(&body)
}

trait OutputWithStdin {
    fn output_with_stdin(&mut self, stdin: &str) -> std::process::Output;
}

impl OutputWithStdin for Command {
    fn output_with_stdin(&mut self, stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start promtool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

const REFUSED_CONNECTS: u64 = 7;
const ACCEPTED_CONNECTS: u64 = 3;
/// Every connect between two namespaces of this machine is answered well
/// within 2^16 µs (65 ms): the bucket every one of them must be under.
const LOOPBACK_BOUND: &str = "0.065536";

#[test]
fn the_connect_latency_example_counts_each_of_the_tests_connects_while_broken_entries_are_skipped()
{
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &[CLANG, "promtool"]].concat()) {
        return;
    }
    let started = Instant::now();
    let dir = TempDir::new("programs");
    let (tcp_object, tcp_yaml) = example("tcp_connect_latency", dir.path());
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    let mixed = compile(&fixtures.join("kprobe_and_tracepoint.bpf.c"), dir.path());
    let broken = dir.path().join("broken.bpf.o");
    std::fs::write(&broken, "this is not an ELF object").unwrap();
    // The outcome label says 2 bytes where the key struct has a u8.
    let mismatch = dir.path().join("mismatch.yaml");
    let yaml = std::fs::read_to_string(&tcp_yaml).unwrap();
    std::fs::write(
        &mismatch,
        yaml.replace(
            "size: 1\n          padding: 3",
            "size: 2\n          padding: 2",
        ),
    )
    .unwrap();
    let kinds = compile(&fixtures.join("attach_kinds.bpf.c"), dir.path());
    let topology = Topology::build(&["a", "b"], Offloads::Off);
    // The classifier goes on the node's end of pod a's link, beside netmon's own.
    let a_link = topology.pod("a").node_interface.clone();
    let mut programs = programs_yaml(&[
        ("tcp_connect_latency", &tcp_object, &tcp_yaml),
        ("broken", &broken, &tcp_yaml),
        ("mismatch", &tcp_object, &mismatch),
        (
            "kprobe_and_tracepoint",
            &mixed,
            &fixtures.join("kprobe_and_tracepoint.yaml"),
        ),
        ("attach_kinds", &kinds, &fixtures.join("attach_kinds.yaml")),
    ]);
    programs.push_str(&format!("    interfaces: [{a_link}]\n"));
    let config = AgentConfig {
        top_level_yaml: programs,
        ..AgentConfig::default()
    };
    let agent = Agent::start(topology.node(), config);
    let node = TestNode { agent, topology };
    let (a, b) = (node.topology.pod("a"), node.topology.pod("b"));
    let IpAddr::V4(server_ip) = b.ip(IpVersion::V4) else {
        unreachable!()
    };
    let octets = server_ip.octets();
    let subnet = format!("{}.{}.{}.0", octets[0], octets[1], octets[2]);

    for _ in 0..REFUSED_CONNECTS {
        connect_refused(a.ns_name(), SocketAddr::new(server_ip.into(), 5009));
    }
    for i in 0..ACCEPTED_CONNECTS - 1 {
        let port = 5010 + i as u16;
        tcp_exchange(
            a.ns_name(),
            b.ns_name(),
            SocketAddr::new(server_ip.into(), port),
            100,
            100,
        );
    }
    // The last accepted connect is also a flow of netmon's own, counted
    // exactly against nftables while the broken entries sit beside it.
    let server = SocketAddr::new(server_ip.into(), 5020);
    let client = a.ip(IpVersion::V4);
    let truth = count_flow(&a.ns, &b.ns, "tcp", FlowMatch::Tcp { client, server });
    tcp_exchange(a.ns_name(), b.ns_name(), server, 10_000, 20_000);
    let expected = truth.read_when_quiet().link_layer();
    let query = FlowQuery::new()
        .ip(client)
        .port(server.port())
        .protocol("tcp");
    node.agent.wait_for_flow_with(&query, "closed", expected);

    // unlinkat calls of a thread of the test's, for the fixture's kaddrs,
    // ksym and regexp decoders.
    let unlinker = format!("nmk-{:x}", unique_tag().random as u32);
    unlinkat_calls_on_thread(&unlinker, dir.path(), UNLINKAT_CALLS);
    // getppid() through libc (the uprobe) and as a bare system call (the
    // raw tracepoint sees both), and echo requests into the node (the
    // classifier on a's link).
    let caller = format!("nma-{:x}", unique_tag().random as u32);
    libc_and_bare_getppid_on_thread(&caller, LIBC_GETPPID_CALLS, BARE_GETPPID_CALLS);
    assert_eq!(
        ping(a.ns_name(), b.ip(IpVersion::V4), ECHO_REQUESTS, 0x4e4d),
        ECHO_REQUESTS
    );

    // Read at scrape time: the kernel has counted already.
    let metrics = scrape_checked(&node);
    let node_name = host_name();
    let name = format!("{PREFIX}tcp_connect_latency_seconds");
    for (outcome, count) in [
        ("failed", REFUSED_CONNECTS),
        ("established", ACCEPTED_CONNECTS),
    ] {
        let labels = [
            ("subnet", subnet.as_str()),
            ("outcome", outcome),
            ("node", node_name.as_str()),
        ];
        assert_eq!(
            metrics.value(&format!("{name}_count"), &labels),
            Some(count as f64),
            "{outcome} connects to {subnet}"
        );
        let under_bound = [&labels[..], &[("le", LOOPBACK_BOUND)]].concat();
        assert_eq!(
            metrics.value(&format!("{name}_bucket"), &under_bound),
            Some(count as f64),
            "every {outcome} connect took under {LOOPBACK_BOUND} s"
        );
        let sum = metrics.value(&format!("{name}_sum"), &labels).unwrap();
        assert!(
            sum < count as f64 * 0.065536,
            "the sum of {count} latencies each under 65 ms is {sum}"
        );
    }

    // The three bad entries are reported with their reasons, the good one runs.
    let status = node.agent.api_json("/api/v1/status");
    let entries = status["programs"]
        .as_array()
        .expect("programs in the status");
    let entry = |name: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {entries:#?}"))
            .clone()
    };
    assert_eq!(entry("tcp_connect_latency")["state"], "running");
    assert_eq!(
        entry("tcp_connect_latency")["metrics"],
        serde_json::json!(["ebpf_exporter_tcp_connect_latency_seconds"])
    );
    assert_eq!(entry("broken")["state"], "failed");
    assert_eq!(
        entry("broken")["error"],
        format!(
            "the object {}: not an ELF object: Unknown file magic",
            broken.display()
        )
    );
    assert_eq!(entry("mismatch")["state"], "failed");
    assert_eq!(
        entry("mismatch")["error"],
        "metric tcp_connect_latency_seconds: label outcome is 2 bytes but member outcome of \
         struct connect_key at byte 4 is 1 bytes"
    );
    assert_eq!(
        entry("attach_kinds")["programs"],
        serde_json::json!([
            {"program": "btf_sys_enter", "section": "tp_btf/sys_enter",
             "attached": "BTF tracepoint sys_enter"},
            {"program": "echo_requests", "section": "classifier/ingress",
             "attached": format!("TCX ingress on {a_link}")},
            {"program": "libc_getppid", "section": "uprobe//lib/x86_64-linux-gnu/libc.so.6:getppid",
             "attached": "uprobe /lib/x86_64-linux-gnu/libc.so.6:getppid"},
            {"program": "raw_sys_enter", "section": "raw_tracepoint/sys_enter",
             "attached": "raw tracepoint sys_enter"},
        ])
    );
    let degraded = entry("kprobe_and_tracepoint");
    assert_eq!(degraded["state"], "degraded");
    let programs = degraded["programs"].as_array().unwrap();
    assert_eq!(
        programs[..2],
        [
            serde_json::json!({"program": "on_unlink", "section": "kprobe/do_unlinkat",
             "error": "kprobe do_unlinkat: this kernel has no kprobes (CONFIG_KPROBES is off); \
                       a tracepoint or raw tracepoint can often observe the same event"}),
            serde_json::json!({"program": "on_unlinkat", "section": "tracepoint/syscalls/sys_enter_unlinkat",
             "attached": "tracepoint syscalls:sys_enter_unlinkat"}),
        ]
    );
    // The verifier's own words end the reason, however long its log.
    let refused = &programs[2];
    assert_eq!(
        (
            &refused["program"],
            &refused["section"],
            &refused["attached"]
        ),
        (
            &serde_json::json!("refused"),
            &serde_json::json!("tracepoint/syscalls/sys_enter_unlinkat"),
            &serde_json::Value::Null
        )
    );
    let reason = refused["error"].as_str().unwrap();
    assert!(
        reason.starts_with("loading: ") && reason.contains("invalid mem access"),
        "{reason}"
    );
    for (program, state, errors) in [
        ("tcp_connect_latency", "running", 0.0),
        ("attach_kinds", "running", 0.0),
        ("broken", "failed", 1.0),
        ("mismatch", "failed", 1.0),
        ("kprobe_and_tracepoint", "degraded", 2.0),
    ] {
        assert_eq!(
            metrics.value(
                "netmon_program_state",
                &[("program", program), ("state", state)]
            ),
            Some(1.0),
            "{program} is {state}"
        );
        assert_eq!(
            metrics.value("netmon_program_load_errors_total", &[("program", program)]),
            Some(errors),
            "{program}'s load errors"
        );
    }
    assert!(
        node.agent
            .log()
            .contains("custom program skipped program=broken"),
        "the failed entry is logged"
    );
    eprintln!("connect latency test took {:?}", started.elapsed());
}

const UNLINKAT_CALLS: u64 = 3;
const LIBC_GETPPID_CALLS: u64 = 11;
const BARE_GETPPID_CALLS: u64 = 5;
const ECHO_REQUESTS: u16 = 4;

/// On a new thread named `comm`: `through_libc` calls of libc's getppid()
/// and `bare` getppid system calls made without it.
fn libc_and_bare_getppid_on_thread(comm: &str, through_libc: u64, bare: u64) {
    let comm = std::ffi::CString::new(comm).unwrap();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) }, 0);
        for _ in 0..through_libc {
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe { libc::getppid() };
        }
        for _ in 0..bare {
            // SAFETY: as above.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    })
    .join()
    .unwrap();
}

/// Creates and unlinks (`unlinkat`, as the fixture counts) `count` files
/// in `dir` on a new thread named `comm`.
fn unlinkat_calls_on_thread(comm: &str, dir: &Path, count: u64) {
    let comm = std::ffi::CString::new(comm).unwrap();
    let files: Vec<std::ffi::CString> = (0..count)
        .map(|i| {
            let path = dir.join(format!("unlink-{i}"));
            std::fs::write(&path, b"x").unwrap();
            std::ffi::CString::new(path.to_str().unwrap()).unwrap()
        })
        .collect();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) }, 0);
        for file in &files {
            // SAFETY: a NUL-terminated path; AT_FDCWD needs no descriptor.
            assert_eq!(
                unsafe { libc::unlinkat(libc::AT_FDCWD, file.as_ptr(), 0) },
                0
            );
        }
    })
    .join()
    .unwrap();
}

/// A thread name no other process on the machine has.
fn unique_comm() -> String {
    format!("nmsc-{:x}", unique_tag().random as u32)
}

/// Runs `count` getppid system calls on a new thread named `comm`.
fn getppid_calls_on_thread(comm: &str, count: u64) {
    let comm = std::ffi::CString::new(comm).unwrap();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) }, 0);
        for _ in 0..count {
            // SAFETY: getppid takes no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
    })
    .join()
    .unwrap();
}

/// A loop device over a file of the test's, detached on drop.
struct LoopDevice {
    path: String,
}

impl LoopDevice {
    fn attach(backing: &Path) -> LoopDevice {
        let path = run(Command::new("losetup")
            .args(["--find", "--show"])
            .arg(backing))
        .trim()
        .to_string();
        LoopDevice { path }
    }

    fn name(&self) -> &str {
        self.path.trim_start_matches("/dev/")
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// Writes `count` distinct 4 KiB blocks with O_DIRECT: each write is one
/// block request that completes before the call returns.
fn direct_writes(device: &str, count: u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(device)
        .expect("open the loop device with O_DIRECT");
    let layout = Layout::from_size_align(4096, 4096).unwrap();
    // SAFETY: a non-zero size; freed below with the same layout.
    let buffer = unsafe { alloc_zeroed(layout) };
    // SAFETY: the allocation is 4096 bytes long.
    let block = unsafe { std::slice::from_raw_parts(buffer, 4096) };
    for i in 0..count {
        file.write_all_at(block, i * 4096).expect("direct write");
    }
    // SAFETY: allocated above with this layout, no longer borrowed.
    unsafe { dealloc(buffer, layout) };
}

const GETPPID_CALLS: u64 = 1234;
const BLOCK_WRITES: u64 = 16;

#[test]
fn the_syscall_and_block_io_examples_count_exactly_the_tests_own_calls_and_writes() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &[CLANG, "promtool", "losetup"]].concat()) {
        return;
    }
    let started = Instant::now();
    let dir = TempDir::new("programs");
    let (syscalls_object, syscalls_yaml) = example("syscalls", dir.path());
    let (block_object, block_yaml) = example("block_io_latency", dir.path());
    let backing = dir.path().join("loop.img");
    std::fs::write(&backing, vec![0u8; 1 << 20]).unwrap();
    let device = LoopDevice::attach(&backing);
    // Let udev finish probing the new device before anything is counted.
    let _ = Command::new("udevadm").arg("settle").status();

    let config = AgentConfig {
        top_level_yaml: programs_yaml(&[
            ("syscalls", &syscalls_object, &syscalls_yaml),
            ("block_io_latency", &block_object, &block_yaml),
        ]),
        ..AgentConfig::default()
    };
    let node = TestNode::start(config);
    let node_name = host_name();

    let comm = unique_comm();
    getppid_calls_on_thread(&comm, GETPPID_CALLS);
    let block = format!("{PREFIX}block_io_latency_seconds_count");
    let write_labels = [("device", device.name()), ("op", "write")];
    let writes_before = scrape_checked(&node)
        .value(&block, &write_labels)
        .unwrap_or(0.0);
    direct_writes(&device.path, BLOCK_WRITES);

    let metrics = scrape_checked(&node);
    assert_eq!(
        metrics.value(
            &format!("{PREFIX}syscalls_total"),
            &[
                ("comm", comm.as_str()),
                ("syscall", "getppid"),
                ("node", node_name.as_str())
            ]
        ),
        Some(GETPPID_CALLS as f64),
        "getppid calls of thread {comm}"
    );
    eventually(Duration::from_secs(5), "block writes counted", || {
        let metrics = scrape_checked(&node);
        let writes = metrics.value(&block, &write_labels).unwrap_or(0.0) - writes_before;
        if writes == BLOCK_WRITES as f64 {
            Ok(())
        } else {
            Err(format!("{writes} writes to {} counted", device.name()))
        }
    });
    eprintln!("syscall and block I/O test took {:?}", started.elapsed());
}

/// The cgroup v2 mount, as the agent finds it.
fn cgroup2_mount() -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .find_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split_whitespace().nth(4)?;
            (after.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount_point))
        })
        .expect("a cgroup2 mount")
}

/// A pod's container cgroup as the kubelet (systemd driver) and containerd
/// name it, under a slice of the test's own; removed on drop.
struct PodCgroup {
    top: PathBuf,
    leaf: PathBuf,
}

impl PodCgroup {
    fn create(uid: &str, container_id: &str) -> PodCgroup {
        let top = cgroup2_mount().join(format!("nmt{}.slice", unique_tag()));
        let leaf = top
            .join(format!("kubepods-pod{}.slice", uid.replace('-', "_")))
            .join(format!("cri-containerd-{container_id}.scope"));
        std::fs::create_dir_all(&leaf).expect("create the pod's cgroups");
        PodCgroup { top, leaf }
    }

    /// Runs `program` (an absolute path, so exec is one execve) in this
    /// cgroup: the child moves itself in before it execs.
    fn run(&self, program: &str) {
        use std::os::unix::process::CommandExt;
        let procs =
            std::ffi::CString::new(self.leaf.join("cgroup.procs").to_str().unwrap()).unwrap();
        let mut command = Command::new(program);
        // SAFETY: between fork and exec only open/write/close run, which
        // are async-signal-safe; the path was allocated before the fork.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let status = command.status().expect("run in the pod's cgroup");
        assert!(status.success(), "{program} in the pod's cgroup: {status}");
    }
}

impl Drop for PodCgroup {
    fn drop(&mut self) {
        // Deepest first: a cgroup with children cannot be removed.
        let mut dir = Some(self.leaf.as_path());
        while let Some(path) = dir {
            let _ = std::fs::remove_dir(path);
            dir = path.parent().filter(|p| p.starts_with(&self.top));
        }
    }
}

const POD_EXECS: u64 = 5;

#[test]
fn the_pod_syscalls_example_names_namespace_pod_and_container_from_the_watched_pods() {
    if missing_prerequisites(&[TOPOLOGY_TOOLS, &[CLANG, "promtool"]].concat()) {
        return;
    }
    let started = Instant::now();
    let dir = TempDir::new("programs");
    let (object, yaml) = example("pod_syscalls", dir.path());
    let topology = Topology::build(&["a"], Offloads::Off);
    let listener = in_netns(topology.node().name(), || TcpListener::bind("127.0.0.1:0"))
        .expect("bind the fake API server in the node namespace");
    let api = FakeApiServer::start(listener);
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig).expect("write kubeconfig");

    let tag = unique_tag();
    let uid = format!(
        "{:08x}-0000-4000-8000-{:012x}",
        tag.pid,
        tag.random & 0xffff_ffff_ffff
    );
    let container_id = format!("{:016x}", tag.random).repeat(4);
    let node_name = topology.node().name().to_lowercase();
    api.apply(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "cart-7d9f", "namespace": "shop", "uid": uid},
        "spec": {"nodeName": node_name, "containers": [{"name": "server", "image": "x"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "server", "image": "x", "imageID": "x", "ready": true, "restartCount": 0,
            "containerID": format!("containerd://{container_id}")}]}
    }))
    .expect("apply the pod");
    let cgroup = PodCgroup::create(&uid, &container_id);

    let agent = Agent::start(
        topology.node(),
        AgentConfig {
            kubernetes: Some(KubernetesSettings {
                kubeconfig,
                node_name: node_name.clone(),
            }),
            top_level_yaml: programs_yaml(&[("pod_syscalls", &object, &yaml)]),
            ..AgentConfig::default()
        },
    );
    eventually(Duration::from_secs(30), "pods synced", || {
        match agent
            .metrics()
            .value("netmon_k8s_sync_status", &[("resource", "pods")])
        {
            Some(1.0) => Ok(()),
            other => Err(format!("pods sync status {other:?}")),
        }
    });

    for _ in 0..POD_EXECS {
        cgroup.run("/usr/bin/true");
    }
    let name = format!("{PREFIX}pod_syscalls_total");
    let labels = [
        ("namespace", "shop"),
        ("pod", "cart-7d9f"),
        ("container", "server"),
        ("syscall", "execve"),
        ("node", node_name.as_str()),
    ];
    let body = agent.get_metrics_listener("/metrics").body;
    let output = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .output_with_stdin(&body);
    assert!(output.status.success(), "promtool: {output:?}");
    assert_eq!(
        Metrics::parse(&body).value(&name, &labels),
        Some(POD_EXECS as f64),
        "execve calls made in the pod's container cgroup; execve series: {:#?}",
        Metrics::parse(&body)
            .series(&name)
            .into_iter()
            .filter(|s| s.labels.get("syscall").map(String::as_str) == Some("execve"))
            .collect::<Vec<_>>()
    );
    drop(agent);
    drop(api);
    eprintln!("pod syscalls test took {:?}", started.elapsed());
}
