//! The `FlowCollector` service: checks a batch, answers re-sends as
//! duplicates, and says OK only once the batch is on disk.

use std::sync::Arc;

use netmon_proto::flows::v1::flow_collector_server::FlowCollector;
use netmon_proto::flows::v1::{ExportRequest, ExportResponse, SCHEMA_VERSION};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::batch::Batch;
use crate::metrics::Metrics;
use crate::spool::SpoolError;
use crate::store::{Accepted, DuplicateOf, Outcome, Store};
use crate::writer::{SpoolWriter, WriteError};

pub struct Collector {
    pub store: Arc<Store>,
    pub writer: SpoolWriter,
    pub metrics: Arc<Metrics>,
}

#[tonic::async_trait]
impl FlowCollector for Collector {
    async fn export(
        &self,
        request: Request<ExportRequest>,
    ) -> Result<Response<ExportResponse>, Status> {
        let request = request.into_inner();
        let answer = self.accept(request).await;
        let outcome = match &answer {
            Ok(response) if response.duplicate => "duplicate",
            Ok(_) => "accepted",
            Err(status) if status.code() == tonic::Code::InvalidArgument => "invalid_argument",
            Err(_) => "unavailable",
        };
        self.metrics.requests.with_label_values(&[outcome]).inc();
        answer.map(Response::new)
    }
}

impl Collector {
    async fn accept(&self, request: ExportRequest) -> Result<ExportResponse, Status> {
        if request.schema_version != SCHEMA_VERSION {
            return Err(Status::invalid_argument(format!(
                "schema_version {} is not supported: this server accepts schema_version {SCHEMA_VERSION} (netmon.flows.v1)",
                request.schema_version
            )));
        }
        let batch = Arc::new(
            Batch::from_request(&request)
                .map_err(|error| Status::invalid_argument(error.to_string()))?,
        );
        let accepted = batch.rows.len() as u64;
        let duplicate = |of: DuplicateOf| {
            self.metrics
                .batches_duplicate
                .with_label_values(&[of.label()])
                .inc();
            tracing::debug!(batch_id = %batch.batch_id, found = of.label(), "duplicate batch");
            ExportResponse {
                accepted,
                duplicate: true,
            }
        };
        if let Some(of) = self.store.duplicate_of(&batch.batch_id) {
            return Ok(duplicate(of));
        }
        let written = self
            .writer
            .write(Accepted {
                payload: request.encode_to_vec(),
                needs_check: request.attempt != 1,
                batch: Arc::clone(&batch),
            })
            .await;
        match written {
            Ok(Outcome::Queued) => {
                self.metrics.records_received.inc_by(accepted);
                Ok(ExportResponse {
                    accepted,
                    duplicate: false,
                })
            }
            Ok(Outcome::Duplicate(of)) => Ok(duplicate(of)),
            Err(WriteError::Spool(full @ SpoolError::Full { .. })) => Err(Status::unavailable(
                format!("{full}: keep the batch and retry later"),
            )),
            Err(WriteError::Spool(error)) => {
                tracing::error!(%error, "cannot write to the spool");
                Err(Status::unavailable(format!(
                    "cannot spool the batch ({error}): retry later"
                )))
            }
            Err(WriteError::Stopped) => Err(Status::unavailable(
                "the server is shutting down: retry later",
            )),
        }
    }
}
