//! Several `cctv serve` nodes on one PostgreSQL database: what a node checks before it
//! serves, and the heartbeat that tells the others it runs.
//!
//! Nodes must agree on two things that live outside the database: the keys (a credential
//! password one node encrypts must decrypt on the next; a file URL one node signs must
//! verify on the next) and the image store (an image uploaded to one node is processed
//! and served by any). A starting node records check values made with its keys and a
//! marker blob in its image store, then compares itself with every live node: another
//! key, or a marker it cannot read, is refused at start with an error that says what to
//! fix, instead of surfacing later as images or passwords that "went missing".

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cctv_admin::access::SecretBox;
use cctv_admin::files::UrlSigner;
use cctv_core::blob::BlobStore;
use cctv_storage_postgres::{ClusterNode, PgStore};
use jiff::{SignedDuration, Timestamp};
use tokio::task::JoinHandle;

/// How often a node refreshes its row.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node not seen for this long has stopped.
const LIVE_WITHIN: SignedDuration = SignedDuration::from_secs(20);
/// The text both check values are made from.
const CHECK_TEXT: &str = "cctv cluster key check";

/// This node's place in the cluster; [`Membership::leave`] at a clean stop.
pub struct Membership {
    store: PgStore,
    node_id: String,
    heartbeat: JoinHandle<()>,
}

/// The keys and stores a node is compared on.
pub struct NodeSetup<'a> {
    pub node_id: String,
    pub listen: String,
    pub secrets: &'a SecretBox,
    pub signer: &'a UrlSigner,
    pub blobs: &'a Arc<dyn BlobStore>,
    /// The log directory, which nodes share too (each writes its own files in it).
    pub logs_dir: std::path::PathBuf,
}

/// Where each node leaves its marker in the log directory.
fn log_markers(logs_dir: &std::path::Path) -> std::path::PathBuf {
    logs_dir.join("nodes")
}

fn log_marker(logs_dir: &std::path::Path, node_id: &str) -> std::path::PathBuf {
    log_markers(logs_dir).join(node_id)
}

fn marker_path(node_id: &str) -> String {
    format!("cluster/nodes/{node_id}")
}

/// Registers this node, then refuses to go on when a live node differs in keys or image
/// store. Returns the membership, whose heartbeat runs until [`Membership::leave`].
pub async fn join(store: &PgStore, node: NodeSetup<'_>) -> anyhow::Result<Membership> {
    let now = Timestamp::now();
    node.blobs
        .put(&marker_path(&node.node_id), node.node_id.as_bytes())
        .await
        .context("writing this node's marker to the image store")?;
    let log_mark = log_marker(&node.logs_dir, &node.node_id);
    cctv_core::private_files::create_dir_all(&log_markers(&node.logs_dir))
        .and_then(|()| std::fs::write(&log_mark, node.node_id.as_bytes()))
        .with_context(|| format!("writing this node's marker {}", log_mark.display()))?;
    let signing_check = node
        .signer
        .sign_value("cluster-key-check", CHECK_TEXT, i64::MAX);
    let me = ClusterNode {
        node_id: node.node_id.clone(),
        listen: node.listen.clone(),
        blob_store: node.blobs.kind().to_owned(),
        secret_check: node.secrets.encrypt(CHECK_TEXT),
        signing_check: signing_check.clone(),
        started_at: now,
        seen_at: now,
    };
    store
        .register_node(&me)
        .await
        .context("registering this node")?;
    let others: Vec<ClusterNode> = store
        .live_nodes(now - LIVE_WITHIN)
        .await
        .context("listing the other nodes")?
        .into_iter()
        .filter(|n| n.node_id != node.node_id)
        .collect();
    let refused = check_against(&node, &others).await;
    if let Err(e) = refused {
        let _ = store
            .leave_cluster(&node.node_id, now - LIVE_WITHIN * 30)
            .await;
        let _ = node.blobs.delete(&marker_path(&node.node_id)).await;
        return Err(e);
    }
    if !others.is_empty() {
        tracing::info!(
            others = others.len(),
            nodes = ?others.iter().map(|n| n.listen.as_str()).collect::<Vec<_>>(),
            "joined other nodes on this database"
        );
    }
    let heartbeat = tokio::spawn({
        let store = store.clone();
        let node_id = node.node_id.clone();
        async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                if let Err(e) = store.node_seen(&node_id, Timestamp::now()).await {
                    tracing::warn!(error = %e, "refreshing this node's cluster row failed");
                }
            }
        }
    });
    Ok(Membership {
        store: store.clone(),
        node_id: node.node_id,
        heartbeat,
    })
}

async fn check_against(node: &NodeSetup<'_>, others: &[ClusterNode]) -> anyhow::Result<()> {
    for other in others {
        let who = format!(
            "the node listening on {} (id {})",
            other.listen, other.node_id
        );
        if node.secrets.decrypt(&other.secret_check).ok().as_deref() != Some(CHECK_TEXT) {
            bail!(
                "{who} uses another encryption key: every node on one database must use the \
                 same key (copy <data_dir>/secret.key from it, or set security.encryption_key \
                 on every node)"
            );
        }
        if node
            .signer
            .verify_value(
                "cluster-key-check",
                CHECK_TEXT,
                i64::MAX,
                &other.signing_check,
                Timestamp::now(),
            )
            .is_err()
        {
            bail!(
                "{who} uses another file-signing key: every node on one database must use the \
                 same key (copy <data_dir>/signing.key from it, or set storage.signing_key on \
                 every node)"
            );
        }
        if !log_marker(&node.logs_dir, &other.node_id).exists() {
            bail!(
                "{who} writes its logs where this node cannot read them (its marker {} is \
                 missing): every node on one database must use one shared log directory \
                 (log.dir on a filesystem all nodes mount), or the daily API-usage and \
                 delivery summaries leave out the other nodes",
                log_marker(&node.logs_dir, &other.node_id).display()
            );
        }
        let sees = node
            .blobs
            .exists(&marker_path(&other.node_id))
            .await
            .context("reading the image store")?;
        if !sees || other.blob_store != node.blobs.kind() {
            bail!(
                "{who} keeps images where this node cannot read them (its marker \
                 {} is not in this node's {} image store): every node on one database \
                 must use one shared image store: one bucket (storage.backend = \"s3\") or \
                 storage.dir on a filesystem all nodes mount",
                marker_path(&other.node_id),
                node.blobs.kind()
            );
        }
    }
    Ok(())
}

impl Membership {
    /// Stops the heartbeat and removes this node's row (a node that crashes instead is
    /// dropped by the others' checks once it has not been seen for a while).
    pub async fn leave(self) {
        self.heartbeat.abort();
        let stale = Timestamp::now() - LIVE_WITHIN * 30;
        if let Err(e) = self.store.leave_cluster(&self.node_id, stale).await {
            tracing::warn!(error = %e, "removing this node's cluster row failed");
        }
    }
}

/// The node id kept in `<data_dir>/node.id`, created on first start: a restarted node is
/// the same node, not a second one.
pub fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node.id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
    }
}
