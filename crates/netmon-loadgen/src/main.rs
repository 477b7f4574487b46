//! `netmon-loadgen`: the few load patterns `benches/overhead.sh` needs that
//! iperf3 does not produce: new TCP connections per second (iperf3 only
//! measures streams) and small UDP datagrams counted at the receiver; and,
//! for `benches/scale.sh`, synthetic flows written into an agent's kernel
//! flow map (`fill-flows`).
//!
//! Every subcommand prints one JSON object on stdout when it ends, so the
//! benchmark script can read the result with `jq` and nothing else.
//! Only plain blocking sockets and threads: the generator must cost as little
//! CPU per operation as possible on the benchmark's two cores, and an async
//! runtime would add wakeups without adding throughput here.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

mod agent_maps;
mod fill_flows;

use clap::{Parser, Subcommand};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

#[derive(Parser)]
#[command(
    name = "netmon-loadgen",
    about = "Load generator for netmon's overhead benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open and close TCP connections as fast as possible for a while.
    ConnectRate {
        /// Server address (an `accept-server`).
        #[arg(long)]
        addr: SocketAddr,
        /// How long to run.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Client threads, each with one connection in flight.
        #[arg(long, default_value_t = 4)]
        threads: usize,
        /// Connect timeout; a dropped SYN would otherwise stall a thread
        /// for the kernel's 1 s retransmission timer and more.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
    },
    /// Accept TCP connections and close them at once, on several threads.
    AcceptServer {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Listen backlog; std's default (128) overflows at tens of
        /// thousands of connections per second and turns into SYN drops.
        #[arg(long, default_value_t = 4096)]
        backlog: i32,
    },
    /// Send fixed-size UDP datagrams as fast as possible for a while.
    UdpFlood {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// UDP payload size in bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Write synthetic UDP flows into a running agent's kernel flow map
    /// (root); prints the agent's maps with their memlock.
    FillFlows {
        /// The agent's process id: its own maps are used, found by its fds.
        #[arg(long)]
        pid: u32,
        /// Flows to write (distinct keys), below 2^24.
        #[arg(long)]
        flows: usize,
        /// Distinct destination ports the flows spread over.
        #[arg(long, default_value_t = 1)]
        ports: u16,
        /// Wait for the agent's next drain first, so all flows land in one.
        #[arg(long)]
        after_drain: bool,
        /// Give up waiting for a drain after this long.
        #[arg(long, default_value_t = 60.0)]
        timeout_seconds: f64,
    },
    /// Count received UDP datagrams; ends once traffic has stopped.
    UdpSink {
        #[arg(long)]
        listen: SocketAddr,
        /// After the first datagram, stop once nothing arrived for this long.
        #[arg(long, default_value_t = 1000)]
        idle_ms: u64,
        /// Give up if no datagram arrived at all within this time.
        #[arg(long, default_value_t = 60.0)]
        max_wait_seconds: f64,
        /// Requested receive buffer (the kernel caps it at rmem_max).
        #[arg(long, default_value_t = 4 << 20)]
        rcvbuf: usize,
    },
}

#[derive(Serialize)]
struct ConnectReport {
    connections: u64,
    seconds: f64,
    per_second: f64,
    errors: u64,
}

#[derive(Serialize)]
struct FloodReport {
    datagrams: u64,
    bytes: u64,
    seconds: f64,
    per_second: f64,
    errors: u64,
}

#[derive(Serialize)]
struct SinkReport {
    datagrams: u64,
    bytes: u64,
    /// From the first to the last datagram received.
    seconds: f64,
    per_second: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ConnectRate {
            addr,
            seconds,
            threads,
            timeout_ms,
        } => connect_rate(addr, seconds, threads, Duration::from_millis(timeout_ms)),
        Command::AcceptServer {
            listen,
            threads,
            backlog,
        } => accept_server(listen, threads, backlog),
        Command::UdpFlood {
            addr,
            seconds,
            size,
            threads,
        } => udp_flood(addr, seconds, size, threads),
        Command::FillFlows {
            pid,
            flows,
            ports,
            after_drain,
            timeout_seconds,
        } => positive_duration(timeout_seconds).and_then(|timeout| {
            fill_flows::fill_flows(&fill_flows::FillOptions {
                pid,
                flows,
                ports,
                after_drain,
                timeout,
            })
            .and_then(|report| print_json(&report))
        }),
        Command::UdpSink {
            listen,
            idle_ms,
            max_wait_seconds,
            rcvbuf,
        } => udp_sink(
            listen,
            Duration::from_millis(idle_ms),
            max_wait_seconds,
            rcvbuf,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netmon-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json<T: Serialize>(value: &T) -> std::io::Result<()> {
    let line = serde_json::to_string(value).map_err(std::io::Error::other)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

fn positive_duration(seconds: f64) -> std::io::Result<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            std::io::Error::new(
                ErrorKind::InvalidInput,
                format!("--seconds must be > 0, got {seconds}"),
            )
        })
}

/// One connection's whole life: handshake, wait for the server's FIN, then
/// close. Waiting for the server to close first keeps TIME_WAIT on the
/// server side, so the client never runs out of ephemeral ports, and every
/// connection ends with a normal FIN exchange in both directions (no RST),
/// which is what a flow monitor sees from real short-lived clients.
fn one_connection(addr: &SocketAddr, timeout: Duration, buf: &mut [u8]) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn connect_rate(
    addr: SocketAddr,
    seconds: f64,
    threads: usize,
    timeout: Duration,
) -> std::io::Result<()> {
    let duration = positive_duration(seconds)?;
    let threads = threads.max(1);
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                let (mut ok, mut errors) = (0u64, 0u64);
                let mut buf = [0u8; 64];
                while Instant::now() < deadline {
                    match one_connection(&addr, timeout, &mut buf) {
                        Ok(()) => ok += 1,
                        Err(_) => {
                            errors += 1;
                            // A refused or failed connect returns at once;
                            // without a pause a dead server would turn
                            // this loop into a busy spin of errors.
                            thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                (ok, errors)
            })
        })
        .collect();
    let (mut connections, mut errors) = (0u64, 0u64);
    for w in workers {
        let (ok, err) = w
            .join()
            .map_err(|_| std::io::Error::other("a client thread panicked"))?;
        connections += ok;
        errors += err;
    }
    // The last connections may finish a little after the deadline: divide by
    // the time actually spent so the rate is not inflated.
    let elapsed = start.elapsed().as_secs_f64();
    print_json(&ConnectReport {
        connections,
        seconds: elapsed,
        per_second: connections as f64 / elapsed,
        errors,
    })
}

fn accept_server(listen: SocketAddr, threads: usize, backlog: i32) -> std::io::Result<()> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // The server keeps TIME_WAIT (it closes first); SO_REUSEADDR lets a
    // restarted server bind while those are still around.
    socket.set_reuse_address(true)?;
    socket.bind(&listen.into())?;
    socket.listen(backlog)?;
    let listener: TcpListener = socket.into();
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let listener = listener.try_clone()?;
            Ok(thread::spawn(move || loop {
                // Dropping the stream closes it: the client sees our FIN
                // and then closes its side normally.
                if let Err(e) = listener.accept() {
                    // Transient (EMFILE, ECONNABORTED): keep serving.
                    if e.kind() != ErrorKind::ConnectionAborted {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            }))
        })
        .collect::<std::io::Result<_>>()?;
    // The script waits for this line before it starts clients.
    eprintln!("netmon-loadgen: accept-server listening on {listen}");
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn udp_flood(addr: SocketAddr, seconds: f64, size: usize, threads: usize) -> std::io::Result<()> {
    let duration = positive_duration(seconds)?;
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    };
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            // A connected socket skips the per-datagram route lookup and
            // address copy that send_to would cost.
            let socket = UdpSocket::bind(bind)?;
            socket.connect(addr)?;
            Ok(thread::spawn(move || {
                let payload = vec![0x5au8; size];
                let (mut sent, mut errors) = (0u64, 0u64);
                // Checking the clock every datagram would cost as much as
                // sending it; every 256 datagrams is well under 1 ms.
                'outer: loop {
                    for _ in 0..256 {
                        match socket.send(&payload) {
                            Ok(_) => sent += 1,
                            Err(_) => errors += 1,
                        }
                    }
                    if Instant::now() >= deadline {
                        break 'outer;
                    }
                }
                (sent, errors)
            }))
        })
        .collect::<std::io::Result<_>>()?;
    let (mut datagrams, mut errors) = (0u64, 0u64);
    for w in workers {
        let (s, e) = w
            .join()
            .map_err(|_| std::io::Error::other("a sender thread panicked"))?;
        datagrams += s;
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    print_json(&FloodReport {
        datagrams,
        bytes: datagrams * size as u64,
        seconds: elapsed,
        per_second: datagrams as f64 / elapsed,
        errors,
    })
}

fn udp_sink(
    listen: SocketAddr,
    idle: Duration,
    max_wait_seconds: f64,
    rcvbuf: usize,
) -> std::io::Result<()> {
    let max_wait = positive_duration(max_wait_seconds)?;
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    socket.set_reuse_address(true)?;
    // A larger buffer absorbs scheduling hiccups of this thread on a busy
    // machine; what still overflows is what the receiver cannot keep up with.
    let _ = socket.set_recv_buffer_size(rcvbuf);
    socket.bind(&listen.into())?;
    let socket: UdpSocket = socket.into();
    // Short poll so idleness is noticed within ~idle/4.
    socket.set_read_timeout(Some((idle / 4).max(Duration::from_millis(10))))?;
    eprintln!("netmon-loadgen: udp-sink listening on {listen}");

    let waiting_since = Instant::now();
    let mut buf = vec![0u8; 65536];
    let (mut datagrams, mut bytes) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                datagrams += 1;
                bytes += n as u64;
                // Reading the clock per datagram is cheap next to the
                // syscall (vDSO) and gives an exact last-arrival time.
                last = Instant::now();
                first.get_or_insert(last);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                match first {
                    Some(_) if last.elapsed() >= idle => break,
                    None if waiting_since.elapsed() >= max_wait => break,
                    _ => {}
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let seconds = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    print_json(&SinkReport {
        datagrams,
        bytes,
        seconds,
        per_second: if seconds > 0.0 {
            datagrams as f64 / seconds
        } else {
            0.0
        },
    })
}
