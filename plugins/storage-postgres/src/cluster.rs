//! The nodes serving from one database (`cluster_nodes`): each node records itself with
//! check values of its keys and refreshes `seen_at` while it runs, so a node starting up
//! can compare itself with the others that are live.

use cctv_core::storage::StorageError;
use jiff::Timestamp;
use sqlx::Row;

use crate::{PgStore, from_odt, map_err, odt};

/// One node as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Stable across restarts of the same node (kept in its data directory).
    pub node_id: String,
    /// The address it serves on, for messages to operators.
    pub listen: String,
    /// The kind of blob store ("fs", …).
    pub blob_store: String,
    /// A value only the node's encryption key decrypts to the known text.
    pub secret_check: String,
    /// The node's file-signing key applied to a known text.
    pub signing_check: String,
    pub started_at: Timestamp,
    pub seen_at: Timestamp,
}

impl PgStore {
    /// Records this node (or refreshes its row after a restart).
    pub async fn register_node(&self, node: &ClusterNode) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO cluster_nodes
                 (node_id, listen, blob_store, secret_check, signing_check, started_at, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (node_id) DO UPDATE SET
                 listen = excluded.listen, blob_store = excluded.blob_store,
                 secret_check = excluded.secret_check, signing_check = excluded.signing_check,
                 started_at = excluded.started_at, seen_at = excluded.seen_at",
        )
        .bind(&node.node_id)
        .bind(&node.listen)
        .bind(&node.blob_store)
        .bind(&node.secret_check)
        .bind(&node.signing_check)
        .bind(odt(node.started_at))
        .bind(odt(node.seen_at))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    /// Marks the node as still running.
    pub async fn node_seen(&self, node_id: &str, at: Timestamp) -> Result<(), StorageError> {
        sqlx::query("UPDATE cluster_nodes SET seen_at = $2 WHERE node_id = $1")
            .bind(node_id)
            .bind(odt(at))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// The nodes seen since `since`, oldest start first.
    pub async fn live_nodes(&self, since: Timestamp) -> Result<Vec<ClusterNode>, StorageError> {
        let rows = sqlx::query(
            "SELECT node_id, listen, blob_store, secret_check, signing_check, started_at, seen_at
             FROM cluster_nodes WHERE seen_at >= $1 ORDER BY started_at, node_id",
        )
        .bind(odt(since))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(ClusterNode {
                    node_id: r.try_get("node_id")?,
                    listen: r.try_get("listen")?,
                    blob_store: r.try_get("blob_store")?,
                    secret_check: r.try_get("secret_check")?,
                    signing_check: r.try_get("signing_check")?,
                    started_at: from_odt(r.try_get("started_at")?),
                    seen_at: from_odt(r.try_get("seen_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_err)
    }

    /// Removes the node's row (a clean stop), and rows of nodes not seen since `stale`.
    pub async fn leave_cluster(&self, node_id: &str, stale: Timestamp) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1 OR seen_at < $2")
            .bind(node_id)
            .bind(odt(stale))
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
