//! Per-connection application-protocol classification from payload
//! samples, pure (times passed in).
//!
//! The kernel sends up to four first payloads per flow direction and flush
//! interval until the agent marks the direction done. This stage decides,
//! per direction, when it is done: once its bytes were classified and
//! nothing more is to be learned from later ones (an HTTP/2 connection is
//! not done before a HEADERS frame said whether it is gRPC and gave a
//! method or status), or after `GIVE_UP_AFTER` samples that matched
//! nothing, so an unknown protocol stops costing samples.
//!
//! Which end sent a sample is not known here (the flow table decides the
//! orientation later, from SYNs and timing), but the protocols tell: a
//! request line, a ClientHello, a startup message only come from a client.
//! The initiator's reading is tried first, then the responder's.
//!
//! A sample of a direction already done, taken after its done mark was
//! written to the kernel, means the kernel forgot the mark: a SYN or
//! SYN-ACK started a new connection on the same ports (or, rarely, the
//! kernel's mark map was full and forgot the oldest). What was learned of
//! the pair then belongs to the previous connection, so it starts afresh.
//!
//! A connection is counted in `classified` once, when the direction that
//! decides its protocol is done: the initiator's, or the responder's for
//! MySQL, whose server speaks first. Behind DNAT the two directions of one
//! connection are sampled under different addresses (before translation
//! at each end) and so are two entries here; counting one side only keeps
//! each connection counted once.

use std::collections::HashMap;

use crate::flow::{AppObservation, AppUpdate, DirectionalKey, Endpoint, Protocol};
use crate::l7::{classify, AppFields, AppProtocol, ProtocolSet, Side, TlsVersion};

/// Samples of a direction after which it is given up on.
pub const GIVE_UP_AFTER: u8 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Pair {
    protocol: Protocol,
    low: Endpoint,
    high: Endpoint,
}

impl Pair {
    /// The pair and the index (0: low → high, 1: high → low) of `key`'s
    /// direction.
    fn of(key: &DirectionalKey) -> (Pair, usize) {
        if key.src <= key.dst {
            (
                Pair {
                    protocol: key.protocol,
                    low: key.src,
                    high: key.dst,
                },
                0,
            )
        } else {
            (
                Pair {
                    protocol: key.protocol,
                    low: key.dst,
                    high: key.src,
                },
                1,
            )
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Connection {
    protocol: Option<AppProtocol>,
    fields: AppFields,
    /// A TLS version from a ServerHello: the negotiated one, which a
    /// ClientHello's offer never replaces.
    tls_negotiated: bool,
    samples: [u8; 2],
    done: [bool; 2],
    /// The direction whose bytes read as the initiator's.
    initiator: Option<usize>,
    counted: bool,
    last_seen_mono_ns: u64,
    /// When each direction's done mark was written to the kernel (0: not
    /// yet): a sample taken later means the kernel forgot it.
    marked_mono_ns: [u64; 2],
}

/// What one sample led to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// New knowledge for the connection's flow record.
    pub observation: Option<AppObservation>,
    /// The sample's direction needs no more samples.
    pub done: bool,
    /// The connection's protocol was decided by this sample (counted once).
    pub classified: Option<AppProtocol>,
}

/// Cumulative counts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassifierStats {
    pub connections: usize,
    /// Samples of connections that found no room (`max_connections`);
    /// classified without the connection's earlier samples.
    pub untracked_samples: u64,
}

pub struct AppClassifier {
    enabled: ProtocolSet,
    connections: HashMap<Pair, Connection>,
    max_connections: usize,
    untracked_samples: u64,
}

impl AppClassifier {
    pub fn new(enabled: ProtocolSet, max_connections: usize) -> Self {
        AppClassifier {
            enabled,
            connections: HashMap::new(),
            max_connections: max_connections.max(1),
            untracked_samples: 0,
        }
    }

    pub fn stats(&self) -> ClassifierStats {
        ClassifierStats {
            connections: self.connections.len(),
            untracked_samples: self.untracked_samples,
        }
    }

    /// Takes one first-payload sample of `key`'s direction.
    pub fn observe(&mut self, key: DirectionalKey, payload: &[u8], at_mono_ns: u64) -> Verdict {
        let (pair, direction) = Pair::of(&key);
        let full = self.connections.len() >= self.max_connections;
        let mut scratch = Connection::default();
        let connection = match self.connections.get_mut(&pair) {
            Some(connection) => connection,
            None if full => {
                self.untracked_samples += 1;
                &mut scratch
            }
            None => self.connections.entry(pair).or_default(),
        };
        connection.last_seen_mono_ns = at_mono_ns;
        let marked = connection.marked_mono_ns[direction];
        if connection.done[direction] && marked != 0 && at_mono_ns > marked {
            // A new connection on these ports: forget the previous one's.
            *connection = Connection {
                last_seen_mono_ns: at_mono_ns,
                ..Connection::default()
            };
        }
        if connection.done[direction] {
            return Verdict {
                done: true,
                ..Verdict::default()
            };
        }
        connection.samples[direction] = connection.samples[direction].saturating_add(1);
        let known = connection.protocol;
        // Once a direction read as the initiator's, the other one is the
        // responder's: with a known protocol some bytes (HTTP/2 frames)
        // read as either, and the side decides what a direction still owes
        // (a method, or a status).
        let found = match connection.initiator {
            Some(initiator) => {
                let side = if initiator == direction {
                    Side::Initiator
                } else {
                    Side::Responder
                };
                classify(payload, side, known, self.enabled).map(|c| (c, side))
            }
            None => classify(payload, Side::Initiator, known, self.enabled)
                .map(|c| (c, Side::Initiator))
                .or_else(|| {
                    classify(payload, Side::Responder, known, self.enabled)
                        .map(|c| (c, Side::Responder))
                }),
        };
        let mut verdict = Verdict::default();
        if let Some((classification, side)) = found {
            if side == Side::Initiator && connection.initiator.is_none() {
                connection.initiator = Some(direction);
            }
            let changed = merge(
                connection,
                classification.protocol,
                &classification.fields,
                side,
            );
            if changed {
                verdict.observation = Some(AppObservation {
                    key,
                    update: AppUpdate::Protocol {
                        protocol: connection.protocol.unwrap_or(classification.protocol),
                        fields: connection.fields.clone(),
                    },
                    misses: 0,
                });
            }
            connection.done[direction] = complete(connection, side);
        }
        if connection.samples[direction] >= GIVE_UP_AFTER {
            connection.done[direction] = true;
        }
        verdict.done = connection.done[direction];
        if verdict.done && !connection.counted {
            if let Some(protocol) = connection.protocol {
                let deciding = connection.initiator == Some(direction)
                    || (protocol == AppProtocol::Mysql && connection.initiator != Some(direction));
                if deciding {
                    connection.counted = true;
                    verdict.classified = Some(protocol);
                }
            }
        }
        verdict
    }

    /// Notes that the done marks of these directions were written to the
    /// kernel at `at_mono_ns` (the kernel's clock, CLOCK_MONOTONIC).
    pub fn marked(&mut self, keys: &[DirectionalKey], at_mono_ns: u64) {
        for key in keys {
            let (pair, direction) = Pair::of(key);
            if let Some(connection) = self.connections.get_mut(&pair) {
                if connection.done[direction] {
                    connection.marked_mono_ns[direction] = at_mono_ns;
                }
            }
        }
    }

    /// Forgets connections without a sample since `before`: their
    /// directions are done or have gone quiet.
    pub fn forget_before(&mut self, before_mono_ns: u64) {
        self.connections
            .retain(|_, c| c.last_seen_mono_ns >= before_mono_ns);
    }
}

/// Merges what a sample classified; returns whether the connection's
/// protocol or fields changed.
fn merge(
    connection: &mut Connection,
    protocol: AppProtocol,
    fields: &AppFields,
    side: Side,
) -> bool {
    let before = (connection.protocol, connection.fields.clone());
    connection.protocol = Some(match connection.protocol {
        Some(AppProtocol::Grpc) if protocol == AppProtocol::Http2 => AppProtocol::Grpc,
        _ => protocol,
    });
    let target = &mut connection.fields;
    if target.http_method.is_none() {
        target.http_method.clone_from(&fields.http_method);
    }
    if target.http_status.is_none() {
        target.http_status = fields.http_status;
    }
    if target.tls_sni.is_none() {
        target.tls_sni.clone_from(&fields.tls_sni);
    }
    if target.server_version.is_none() {
        target.server_version.clone_from(&fields.server_version);
    }
    if let Some(version) = fields.tls_version {
        let negotiated = side == Side::Responder;
        if negotiated || !connection.tls_negotiated {
            set_tls_version(target, version);
            connection.tls_negotiated |= negotiated;
        }
    }
    before != (connection.protocol, connection.fields.clone())
}

fn set_tls_version(fields: &mut AppFields, version: TlsVersion) {
    fields.tls_version = Some(version);
}

/// Whether a direction whose sample was just classified has told all it
/// will: HTTP/2 only once a HEADERS frame gave a method (client) or status
/// (server), so that gRPC is told apart from plain HTTP/2.
fn complete(connection: &Connection, side: Side) -> bool {
    match connection.protocol {
        Some(AppProtocol::Http2) | Some(AppProtocol::Grpc) => match side {
            Side::Initiator => connection.fields.http_method.is_some(),
            Side::Responder => connection.fields.http_status.is_some(),
        },
        _ => true,
    }
}

#[cfg(test)]
#[path = "classifier_tests.rs"]
mod tests;
