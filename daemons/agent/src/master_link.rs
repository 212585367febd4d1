//! The agent's end of the master link: connect, hand the stream to the agent (which sends
//! REGISTER first), relay what the master sends, and reconnect with backoff when it breaks.

use std::time::Duration;

use mesos_agent_protocol::AgentLinkClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::core::Event;

/// Longest wait between connection attempts (`REGISTER_RETRY_INTERVAL_MAX`).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs until the agent's event channel closes.
pub(crate) async fn run(master: String, events: mpsc::UnboundedSender<Event>, factor: Duration) {
    let mut backoff = factor.max(Duration::from_millis(10));
    let mut epoch = 0u64;
    loop {
        if events.is_closed() {
            return;
        }
        // With zk://, the leading master is looked up anew before every attempt, so the agent
        // follows a failover to whichever master leads next.
        let url = if master.starts_with("zk://") {
            match mesos_scheduler_sdk::detector::leading_master(&master).await {
                Ok(url) => url,
                Err(e) => {
                    tracing::debug!("no leading master in {master}: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        } else {
            format!("http://{master}")
        };
        match AgentLinkClient::connect(url.clone()).await {
            Ok(mut client) => {
                epoch += 1;
                let (tx, rx) = mpsc::unbounded_channel();
                if events.send(Event::LinkUp { tx, epoch }).is_err() {
                    return;
                }
                match client.attach(UnboundedReceiverStream::new(rx)).await {
                    Ok(response) => {
                        let mut stream = response.into_inner();
                        backoff = factor.max(Duration::from_millis(10));
                        loop {
                            match stream.message().await {
                                Ok(Some(msg)) => {
                                    if events.send(Event::FromMaster(msg)).is_err() {
                                        return;
                                    }
                                }
                                Ok(None) => {
                                    tracing::warn!("master closed the link");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!("master link failed: {e}");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!("master refused the link: {e}"),
                }
                if events.send(Event::LinkDown { epoch }).is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!("cannot connect to master at {master}: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
