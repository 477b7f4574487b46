//! The exporter task: once a second it takes the records due from the feed
//! and sends them to the collector over UDP, with the templates at start,
//! every `template_refresh` and after a failed send; at shutdown it sends
//! everything still held.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::collector::CollectorAddress;
use super::encoder::MessageEncoder;
use super::feed::IpfixFeed;
use super::record::IpfixRecord;
use super::IpfixError;
use crate::config::Config;
use crate::export::prometheus::AgentMetrics;

/// How often the exporter looks for records due. Flows end at drains, so
/// an ended flow reaches the collector within a second of the drain.
const EXPORT_TICK: Duration = Duration::from_secs(1);

/// The feed the runtime publishes into, and the exporter that empties it.
pub struct IpfixExport {
    pub feed: Arc<IpfixFeed>,
    pub exporter: IpfixExporter,
}

/// IPFIX export as `config.export.ipfix` asks, or `None` when it is off.
/// The feed holds at most twice `flow.max_flows` flows: every record of the
/// table plus as many ended ones awaiting their export.
pub fn start(
    config: &Config,
    metrics: Arc<AgentMetrics>,
) -> Result<Option<IpfixExport>, IpfixError> {
    let settings = &config.export.ipfix;
    if !settings.enabled {
        return Ok(None);
    }
    let collector = CollectorAddress::parse(&settings.collector)?;
    let feed = Arc::new(IpfixFeed::new(
        settings.active_timeout,
        config.flow.max_flows.saturating_mul(2),
    ));
    metrics.ipfix().start();
    info!(
        %collector,
        observation_domain_id = settings.observation_domain_id,
        active_timeout = %humantime::format_duration(settings.active_timeout),
        "IPFIX export on"
    );
    let exporter = IpfixExporter {
        feed: feed.clone(),
        collector,
        encoder: MessageEncoder::new(
            settings.observation_domain_id,
            usize::from(settings.max_message_size),
        ),
        template_refresh: settings.template_refresh,
        metrics,
        socket: None,
        templates_due: true,
        next_refresh: Instant::now(),
        failing: false,
    };
    Ok(Some(IpfixExport { feed, exporter }))
}

pub struct IpfixExporter {
    feed: Arc<IpfixFeed>,
    collector: CollectorAddress,
    encoder: MessageEncoder,
    template_refresh: Duration,
    metrics: Arc<AgentMetrics>,
    /// Connected to the collector's address of the last lookup, so the
    /// kernel reports a closed collector port (ECONNREFUSED) on the next send.
    socket: Option<(SocketAddr, UdpSocket)>,
    templates_due: bool,
    next_refresh: Instant,
    /// The last send failed: logged once until a send succeeds again.
    failing: bool,
}

impl IpfixExporter {
    /// Exports until `stop` turns true, then sends everything still held.
    /// The runtime stops it only after the last drain, so that drain's
    /// counters are in the final round.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(EXPORT_TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
            let records = self.feed.take_due(unix_nanos());
            self.export(records).await;
        }
        let records = self.feed.take_all();
        let count = records.len();
        self.export(records).await;
        info!(records = count, "IPFIX export stopped after a final round");
    }

    async fn export(&mut self, records: Vec<IpfixRecord>) {
        if Instant::now() >= self.next_refresh {
            self.look_up_collector().await;
            self.templates_due = true;
            self.next_refresh = Instant::now() + self.template_refresh;
        }
        self.metrics
            .ipfix()
            .set_pending_flows(self.feed.pending_flows() as u64);
        if records.is_empty() && !self.templates_due {
            return;
        }
        let messages = self
            .encoder
            .encode(&records, self.templates_due, unix_seconds());
        let mut all_sent = true;
        for message in messages {
            let records = u64::from(message.data_records);
            match self.send(&message.bytes).await {
                Ok(()) => {
                    self.metrics.ipfix().record_sent(records);
                    if self.failing {
                        self.failing = false;
                        info!(collector = %self.collector, "IPFIX messages are sent again");
                    }
                }
                Err(error) => {
                    all_sent = false;
                    self.metrics.ipfix().record_send_error(records);
                    if !self.failing {
                        self.failing = true;
                        warn!(collector = %self.collector, %error,
                              "IPFIX message not sent; the records are counted in netmon_ipfix_dropped_records_total");
                    }
                }
            }
        }
        // A collector that refused a message may have restarted without
        // the templates.
        self.templates_due = !all_sent;
    }

    async fn send(&self, bytes: &[u8]) -> Result<(), IpfixError> {
        let Some((address, socket)) = &self.socket else {
            return Err(IpfixError::NoCollectorAddress {
                collector: self.collector.to_string(),
            });
        };
        socket
            .send(bytes)
            .await
            .map(drop)
            .map_err(|source| IpfixError::Send {
                address: *address,
                source,
            })
    }

    /// Looks the collector up again; a new address gets a new socket. When
    /// the lookup fails the previous address is kept.
    async fn look_up_collector(&mut self) {
        let address = match self.collector.resolve().await {
            Ok(address) => address,
            Err(error) => {
                warn!(%error, "IPFIX collector lookup failed");
                return;
            }
        };
        if self.socket.as_ref().map(|(known, _)| *known) == Some(address) {
            return;
        }
        match connect(address).await {
            Ok(socket) => {
                debug!(%address, "IPFIX socket connected");
                self.socket = Some((address, socket));
            }
            Err(error) => warn!(%address, %error, "IPFIX socket could not be opened"),
        }
    }
}

async fn connect(address: SocketAddr) -> Result<UdpSocket, IpfixError> {
    let local: SocketAddr = match address {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket_error = |source| IpfixError::Socket { address, source };
    let socket = UdpSocket::bind(local).await.map_err(socket_error)?;
    socket.connect(address).await.map_err(socket_error)?;
    Ok(socket)
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn unix_nanos() -> u64 {
    u64::try_from(since_epoch().as_nanos()).unwrap_or(u64::MAX)
}

/// The header's export time: seconds, which wrap in 2106.
fn unix_seconds() -> u32 {
    since_epoch().as_secs() as u32
}
