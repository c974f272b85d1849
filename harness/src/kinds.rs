//! Resolving kinds to API resources one group-version at a time, with a cache.
//!
//! Full discovery (`kube::Discovery::run`) fails as a whole when any aggregated API is
//! unavailable — a real k3s's metrics-server answers 503 for its first minute. Here only the
//! group-versions a caller needs are asked for, so an unrelated broken APIService cannot stop a
//! bootstrap or a drift check; one the caller does need gives an error naming it.

use std::collections::BTreeMap;

use kube::Client;
use kube::api::ApiResource;
use kube::discovery::Scope;

/// Errors resolving a kind.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// The group-version could not be read (e.g. an aggregated API that is unavailable).
    #[error(
        "the API server could not list {api_version} (needed for {kind}): {source}; if it is an aggregated API (`kubectl get apiservices`), it may not be available yet"
    )]
    GroupVersion {
        /// apiVersion.
        api_version: String,
        /// Kind wanted.
        kind: String,
        /// Cause.
        source: kube::Error,
    },
    /// The cluster does not serve the kind.
    #[error("the cluster does not serve {kind} in {api_version}; were its CRDs applied?")]
    Unknown {
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
    },
}

/// A kind's resource and scope.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The resource.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
}

/// Resolves kinds against one cluster, caching each group-version it reads.
#[derive(Clone)]
pub struct KindResolver {
    client: Client,
    by_gv: BTreeMap<String, Vec<Resolved>>,
    preferred: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for KindResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindResolver").field("cached", &self.by_gv.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl KindResolver {
    /// A resolver for `client`'s cluster.
    pub fn new(client: Client) -> KindResolver {
        KindResolver { client, by_gv: BTreeMap::new(), preferred: None }
    }

    /// Forget the cache (after CRDs were applied).
    pub fn refresh(&mut self) {
        self.by_gv.clear();
        self.preferred = None;
    }

    async fn group_version(&mut self, api_version: &str, kind: &str) -> Result<&[Resolved], KindError> {
        if !self.by_gv.contains_key(api_version) {
            let list = if api_version.contains('/') {
                self.client.list_api_group_resources(api_version).await
            } else {
                self.client.list_core_api_resources(api_version).await
            }
            .map_err(|source| KindError::GroupVersion {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                source,
            })?;
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let resolved = list
                .resources
                .iter()
                .filter(|r| !r.name.contains('/')) // subresources
                .map(|r| Resolved {
                    resource: ApiResource {
                        group: group.to_string(),
                        version: version.to_string(),
                        api_version: api_version.to_string(),
                        kind: r.kind.clone(),
                        plural: r.name.clone(),
                    },
                    scope: if r.namespaced { Scope::Namespaced } else { Scope::Cluster },
                })
                .collect();
            self.by_gv.insert(api_version.to_string(), resolved);
        }
        Ok(self.by_gv.get(api_version).map(Vec::as_slice).unwrap_or_default())
    }

    /// The resource of `kind` in `api_version` (`v1`, `apps/v1`, …).
    pub async fn resolve(&mut self, api_version: &str, kind: &str) -> Result<Resolved, KindError> {
        self.group_version(api_version, kind)
            .await?
            .iter()
            .find(|r| r.resource.kind == kind)
            .cloned()
            .ok_or_else(|| KindError::Unknown { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    /// The resource of `kind` in `group` at the group's preferred version (what an inventory
    /// entry names: group and kind, no version).
    pub async fn resolve_group_kind(&mut self, group: &str, kind: &str) -> Result<Resolved, KindError> {
        if group.is_empty() {
            return self.resolve("v1", kind).await;
        }
        if self.preferred.is_none() {
            let groups = self.client.list_api_groups().await.map_err(|source| KindError::GroupVersion {
                api_version: "/apis".to_string(),
                kind: kind.to_string(),
                source,
            })?;
            let map = groups
                .groups
                .iter()
                .filter_map(|g| {
                    let v = g.preferred_version.as_ref().or(g.versions.first())?;
                    Some((g.name.clone(), v.group_version.clone()))
                })
                .collect();
            self.preferred = Some(map);
        }
        let gv = self
            .preferred
            .as_ref()
            .and_then(|m| m.get(group))
            .cloned()
            .ok_or_else(|| KindError::Unknown { api_version: format!("{group}/*"), kind: kind.to_string() })?;
        self.resolve(&gv, kind).await
    }
}
