//! The HTTP API: flows (`/api/v1/flows`), health and readiness.
//!
//! `GET /api/v1/flows` returns the current flows; `?follow=true` streams
//! flow events (and security events) as NDJSON from the moment of the
//! request on. `GET /api/v1/security/events` lists recent security events.

mod app_view;
mod flows;
mod health;
mod names;
mod query;
mod security;
mod serve;
mod server;
mod source;
mod view;

#[cfg(test)]
pub(crate) mod testing;

pub use app_view::{AppView, DnsView, DNS_TIMEOUT};
pub use flows::{LagHook, NDJSON};
pub use health::{health_router, Readiness};
pub use names::FlowNames;
pub use query::{FlowQuery, QueryError};
pub use security::{SecurityEventView, SecurityQuery, SecurityQueryError};
pub use serve::{serve, serve_with_grace, ServeError, SHUTDOWN_GRACE};
pub use server::{api_router, api_router_with_lag_hook};
pub use source::{FlowEvent, FlowEventKind, FlowSource};
pub use view::{rfc3339, tcp_flag_names, FlowView, TranslatedEnds};
