//! The master's side of the agent link (`AgentLink.Attach`): one stream per agent. The
//! first message must be REGISTER; after that messages go to the state machine in order.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use mesos_agent_protocol::v1::agent_message;
use mesos_agent_protocol::{AgentLink, AgentMessage, MasterMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, warn};

use crate::Shared;

pub(crate) struct LinkService {
    pub shared: Arc<Shared>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<MasterMessage, Status>> + Send>>;

#[tonic::async_trait]
impl AgentLink for LinkService {
    type AttachStream = Outbound;

    async fn attach(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let mut inbound = request.into_inner();
        let first = match inbound.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(e),
            None => return Err(Status::invalid_argument("empty agent stream")),
        };
        if first.r#type() != agent_message::Type::Register {
            return Err(Status::invalid_argument(
                "the first message on the agent link must be REGISTER",
            ));
        }
        let register = first
            .register
            .ok_or_else(|| Status::invalid_argument("REGISTER without 'register'"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (agent_id, conn_id) = {
            let mut m = self.shared.lock();
            m.register_agent(register, tx)
                .map_err(Status::failed_precondition)?
        };
        self.shared.allocate_soon.notify_one();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                match inbound.next().await {
                    Some(Ok(message)) => {
                        let mut m = shared.lock();
                        m.handle_agent_message(&agent_id, message);
                        let wanted = m.allocation_wanted;
                        drop(m);
                        if wanted {
                            shared.allocate_soon.notify_one();
                        }
                    }
                    Some(Err(e)) => {
                        debug!(agent = %agent_id, "agent link error: {e}");
                        break;
                    }
                    None => break,
                }
            }
            warn!(agent = %agent_id, "agent link closed");
            shared.lock().agent_disconnected(&agent_id, conn_id);
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}
