//! The HTTP API: flows (`/api/v1/flows`), the agent's status and stats,
//! debug endpoints, health and readiness.
//!
//! `GET /api/v1/flows` returns the current flows; `?follow=true` streams
//! flow events (and security events) as NDJSON from the moment of the
//! request on. `GET /api/v1/security/events` lists recent security events.
//! `GET /api/v1/status` and `/api/v1/stats/flows` describe the agent and
//! its tables; `/debug/flows` and `/debug/runtime` its internals. The same
//! router is served on TCP and on a unix socket (`serve.rs`).

mod app_view;
mod config_status;
mod debug;
mod flows;
mod health;
mod names;
mod query;
mod security;
mod select;
mod serve;
mod server;
mod source;
mod stats;
mod status;
mod status_source;
mod unix_socket;
mod view;

#[cfg(test)]
pub(crate) mod testing;

pub use app_view::{AppView, DnsView, DNS_TIMEOUT};
pub use config_status::{ConfigStatus, ConfigStatusHandle};
pub use debug::{DebugFlow, MapDetail, RuntimeStatus, TableDetail};
pub use flows::{LagHook, NDJSON};
pub use health::{health_router, Readiness};
pub use names::FlowNames;
pub(crate) use query::wall_now;
pub use query::{End, Filter, FlowQuery, QueryError, Since};
pub use security::{SecurityEventView, SecurityQuery, SecurityQueryError};
pub use select::{select as select_flows, Rank};
pub use serve::{serve, serve_with_grace, ServeError, SHUTDOWN_GRACE};
pub use server::{api_router, api_router_with, api_router_with_lag_hook, ApiSources};
pub use source::{FlowEvent, FlowEventKind, FlowSource};
pub use stats::{FlowCounts, FlowStatsView};
pub use status::{StatusView, VERSION};
pub use status_source::{
    fill_ratio, AgentStatus, FeatureStatus, InterfaceStatus, KernelStatus, KubernetesState,
    KubernetesStatus, MapStatus, RingStatus, StatusSource, TableStatus,
};
pub use unix_socket::{ApiSocket, UnixSocketError, SOCKET_MODE};
pub use view::{rfc3339, tcp_flag_names, FlowView, TranslatedEnds};
