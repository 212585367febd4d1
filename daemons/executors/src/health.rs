//! Health checks of a task (`TaskInfo.health_check`): COMMAND, HTTP and TCP, with Mesos's
//! delay, interval, timeout, grace period and consecutive failures.

use std::path::PathBuf;
use std::time::Duration;

use mesos_core::proto::v1 as pb;
use pb::health_check::Type;
use tokio::time::Instant;

/// One result worth reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) healthy: bool,
    /// The task failed `consecutive_failures` checks in a row and must be killed.
    pub(crate) kill: bool,
}

fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// Checks `check` until the returned task is aborted or the task is to be killed, calling
/// `report` when health changes, and on the failure that asks for a kill. `launched` is when
/// the task started; failures within the grace period after it count only after a first
/// success.
pub(crate) fn spawn<F>(
    check: pb::HealthCheck,
    cwd: PathBuf,
    launched: Instant,
    mut report: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(Report) + Send + 'static,
{
    tokio::spawn(async move {
        let delay = seconds(check.delay_seconds());
        let interval = seconds(check.interval_seconds());
        let timeout = seconds(check.timeout_seconds());
        let grace = seconds(check.grace_period_seconds());
        let max_failures = check.consecutive_failures();
        tokio::time::sleep(delay).await;
        let mut consecutive = 0u32;
        let mut ever_healthy = false;
        let mut reported = None;
        loop {
            let healthy = if timeout.is_zero() {
                once(&check, &cwd).await
            } else {
                tokio::time::timeout(timeout, once(&check, &cwd))
                    .await
                    .unwrap_or(false)
            };
            if healthy {
                consecutive = 0;
                ever_healthy = true;
                if reported != Some(true) {
                    reported = Some(true);
                    report(Report {
                        healthy: true,
                        kill: false,
                    });
                }
            } else if ever_healthy || launched.elapsed() >= grace {
                consecutive += 1;
                let kill = consecutive >= max_failures.max(1);
                if reported != Some(false) || kill {
                    reported = Some(false);
                    report(Report {
                        healthy: false,
                        kill,
                    });
                }
                if kill {
                    return;
                }
            }
            tokio::time::sleep(interval).await;
        }
    })
}

/// The check's kind: its `type`, or for old schedulers that leave it unset, the one part set.
fn kind(check: &pb::HealthCheck) -> Type {
    match check.r#type() {
        Type::Unknown if check.command.is_some() => Type::Command,
        Type::Unknown if check.http.is_some() => Type::Http,
        Type::Unknown if check.tcp.is_some() => Type::Tcp,
        kind => kind,
    }
}

fn loopback(protocol: pb::network_info::Protocol) -> &'static str {
    match protocol {
        pb::network_info::Protocol::IPv6 => "[::1]",
        pb::network_info::Protocol::IPv4 => "127.0.0.1",
    }
}

/// Runs one check: success is exit status 0, an HTTP status in 200..400, or a TCP connection.
async fn once(check: &pb::HealthCheck, cwd: &std::path::Path) -> bool {
    match kind(check) {
        Type::Command => {
            let Some(info) = &check.command else {
                return false;
            };
            let Ok(mut command) = crate::process::command(info) else {
                return false;
            };
            command
                .current_dir(cwd)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true);
            command.status().await.is_ok_and(|s| s.success())
        }
        Type::Http => {
            let Some(http) = &check.http else {
                return false;
            };
            let scheme = http.scheme.as_deref().unwrap_or("http");
            let path = http.path.as_deref().unwrap_or("/");
            let slash = if path.starts_with('/') { "" } else { "/" };
            let url = format!(
                "{scheme}://{}:{}{slash}{path}",
                loopback(http.protocol()),
                http.port
            );
            let Ok(client) = reqwest::Client::builder().build() else {
                return false;
            };
            client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| (200..400).contains(&r.status().as_u16()))
        }
        Type::Tcp => {
            let Some(tcp) = &check.tcp else { return false };
            let Ok(port) = u16::try_from(tcp.port) else {
                return false;
            };
            let host = match tcp.protocol() {
                pb::network_info::Protocol::IPv6 => "::1",
                pb::network_info::Protocol::IPv4 => "127.0.0.1",
            };
            tokio::net::TcpStream::connect((host, port)).await.is_ok()
        }
        Type::Unknown => false,
    }
}
