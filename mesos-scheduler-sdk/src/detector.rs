//! Finding the leading master through ZooKeeper, as Mesos's detector does: masters contend by
//! creating sequential ephemeral nodes under the `zk://` path; the one named `json.info_…`
//! with the lowest sequence number leads, and its data is its `MasterInfo` in JSON.

use std::time::Duration;

use mesos_core::proto::v1 as pb;

use crate::error::SdkError;

/// The prefix of the nodes whose data is a JSON `MasterInfo`.
const INFO_PREFIX: &str = "json.info_";

/// A parsed `zk://[user:password@]host:port[,host:port...]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host:port,host:port`, as ZooKeeper clients take it.
    pub servers: String,
    /// `user:password` for the `digest` scheme, if given.
    pub credentials: Option<String>,
    /// The znode masters register under, e.g. `/mesos`.
    pub path: String,
}

impl ZkUrl {
    pub fn parse(url: &str) -> Result<ZkUrl, SdkError> {
        let bad = |why: &str| SdkError::Config(format!("master '{url}': {why}"));
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| bad("a ZooKeeper URL starts with zk://"))?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected zk://host:port/path"))?;
        let (credentials, servers) = match authority.rsplit_once('@') {
            Some((c, s)) => (Some(c.to_string()), s),
            None => (None, authority),
        };
        if servers.is_empty() || servers.split(',').any(|s| s.rsplit_once(':').is_none()) {
            return Err(bad("every ZooKeeper server needs host:port"));
        }
        let path = format!("/{}", path.trim_end_matches('/'));
        if path == "/" {
            return Err(bad("the path of the masters' znode is missing"));
        }
        Ok(ZkUrl {
            servers: servers.to_string(),
            credentials,
            path,
        })
    }
}

/// The leader among the children of the masters' znode: the `json.info_` node with the lowest
/// sequence number.
pub fn leader_node(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|c| {
            let sequence: u64 = c.strip_prefix(INFO_PREFIX)?.parse().ok()?;
            Some((sequence, c.as_str()))
        })
        .min()
        .map(|(_, name)| name)
}

/// The HTTP base URL of a master from its `MasterInfo`: `address` when present, else the
/// legacy `ip` (IPv4, network byte order) and `port`.
pub fn master_url(info: &pb::MasterInfo) -> Option<String> {
    if let Some(address) = &info.address {
        let host = address.ip.clone().or_else(|| address.hostname.clone())?;
        return Some(format!("http://{host}:{}", address.port));
    }
    let ip = std::net::Ipv4Addr::from(info.ip.swap_bytes());
    Some(format!("http://{ip}:{}", info.port))
}

/// Asks ZooKeeper which master leads; returns its `http://host:port`.
pub async fn leading_master(url: &str) -> Result<String, SdkError> {
    let zk = ZkUrl::parse(url)?;
    let unreachable = |message: String| SdkError::Unreachable {
        url: url.to_string(),
        message,
    };
    let mut connector = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(5));
    if let Some(credentials) = &zk.credentials {
        connector = connector.with_auth("digest", credentials.as_bytes());
    }
    let client = connector
        .connect(&zk.servers)
        .await
        .map_err(|e| unreachable(format!("ZooKeeper: {e}")))?;
    let (children, _) = client
        .get_children(&zk.path)
        .await
        .map_err(|e| unreachable(format!("listing {}: {e}", zk.path)))?;
    let leader = leader_node(&children)
        .ok_or_else(|| unreachable(format!("no master has registered under {}", zk.path)))?;
    let node = format!("{}/{leader}", zk.path);
    let (data, _) = client
        .get_data(&node)
        .await
        .map_err(|e| unreachable(format!("reading {node}: {e}")))?;
    let text = String::from_utf8_lossy(&data);
    let info: pb::MasterInfo = mesos_core::json::from_str(&text)
        .map_err(|e| SdkError::Protocol(format!("{node} is not a MasterInfo: {e}")))?;
    master_url(&info).ok_or_else(|| SdkError::Protocol(format!("{node} names no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zk_urls_parse_as_mesos_writes_them() {
        assert_eq!(
            ZkUrl::parse("zk://host1:2181,host2:2181/mesos").unwrap(),
            ZkUrl {
                servers: "host1:2181,host2:2181".into(),
                credentials: None,
                path: "/mesos".into(),
            }
        );
        let with_auth = ZkUrl::parse("zk://user:secret@10.0.0.1:2181/a/b/").unwrap();
        assert_eq!(with_auth.credentials.as_deref(), Some("user:secret"));
        assert_eq!(with_auth.path, "/a/b");
        for bad in [
            "zk://host1:2181",
            "zk://host1/mesos",
            "http://x/y",
            "zk://:2181/",
        ] {
            assert!(ZkUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_lowest_json_sequence_leads() {
        let children: Vec<String> = [
            "info_0000000001",
            "json.info_0000000007",
            "json.info_0000000003",
            "log_replicas",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(leader_node(&children), Some("json.info_0000000003"));
        assert_eq!(leader_node(&[]), None);
    }

    #[test]
    fn addresses_come_from_address_or_the_legacy_fields() {
        let with_address = pb::MasterInfo {
            address: Some(pb::Address {
                hostname: Some("m1".into()),
                ip: Some("10.0.0.5".into()),
                port: 5050,
            }),
            ..Default::default()
        };
        assert_eq!(
            master_url(&with_address).as_deref(),
            Some("http://10.0.0.5:5050")
        );
        // 10.0.0.5 in network byte order, as Mesos fills the legacy `ip`.
        let legacy = pb::MasterInfo {
            ip: u32::from_be_bytes([5, 0, 0, 10]),
            port: 5051,
            ..Default::default()
        };
        assert_eq!(master_url(&legacy).as_deref(), Some("http://10.0.0.5:5051"));
    }
}
