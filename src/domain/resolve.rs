//! Which configuration a request gets (spec: applyABTestVariant), as a pure function over a
//! snapshot of the live experiments and deployments. The server keeps the snapshot in
//! memory, so answering needs no database round trip.

use crate::domain::assignment::{
    Allocation, CanonicalScope, CompiledTargeting, RequestContext, Targeting, Variant, assign,
    assign_arm, in_rollout,
};
use crate::domain::experiment::{HOLDOUT_ARM, LayerSlice, SYSTEM_TENANT, TargetType, in_slice};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// An active experiment, ready to assign.
#[derive(Debug)]
pub struct LiveExperiment {
    pub id: Uuid,
    pub tenant_id: String,
    pub target_type: TargetType,
    pub target_id: String,
    pub salt: String,
    /// When it started: events from before are refused.
    pub start_date: chrono::DateTime<chrono::Utc>,
    pub allocation: Allocation,
    pub targeting: Targeting,
    pub compiled: CompiledTargeting,
    /// The arms' configurations as JSON text, serialised once, in arm order.
    pub arms: Vec<Arc<RawValue>>,
    /// The salt of its layer's bucket (`"layer:" + layer id`), made once.
    pub layer_salt: Box<str>,
    /// Its slice of the layer: a user whose layer bucket is outside it is not in the
    /// experiment (the whole layer is not hashed).
    pub slice: LayerSlice,
}

impl LiveExperiment {
    /// Whether `user_id` is in its slice of its layer (allocation-free).
    pub fn in_slice(&self, user_id: &str) -> bool {
        in_slice(&self.layer_salt, user_id, self.slice)
    }
}

/// The rollout of a deployed winner (the newest deployment of its experiment).
#[derive(Debug)]
pub struct LiveDeployment {
    pub experiment_id: Uuid,
    pub tenant_id: String,
    pub target_type: TargetType,
    pub target_id: String,
    pub salt: String,
    pub rollout_percentage: u8,
    pub winner: Variant,
    pub targeting: Targeting,
    pub compiled: CompiledTargeting,
    pub configuration: Arc<RawValue>,
    /// When it was deployed: for one target the newest applicable deployment wins.
    pub deployed_at: chrono::DateTime<chrono::Utc>,
}

/// A target as a request names it: its type and id.
pub type TargetRef<'a> = (TargetType, &'a str);

/// Everything resolve needs, indexed by tenant. The experiments and deployments are shared
/// (`Arc`), so a snapshot that differs from another by one experiment reuses the rest.
#[derive(Debug, Default)]
pub struct Snapshot {
    experiments: Vec<Arc<LiveExperiment>>,
    deployments: Vec<Arc<LiveDeployment>>,
    /// Each experiment's answer per arm (in arm order), serialised once.
    experiment_entries: Vec<Vec<Box<str>>>,
    /// Each deployment's answer, serialised once.
    deployment_entries: Vec<Box<str>>,
    /// Indexes into `experiments`: system-wide ones, and per owning tenant.
    system_experiments: Vec<usize>,
    tenant_experiments: HashMap<String, Vec<usize>>,
    system_deployments: Vec<usize>,
    tenant_deployments: HashMap<String, Vec<usize>>,
    /// The active holdouts (experiments of kind holdout: arms `holdout` and `exposed`), and
    /// each one's answer per arm (`{"experimentId", "variant"}`), serialised once.
    holdouts: Vec<Arc<LiveExperiment>>,
    holdout_entries: Vec<Vec<Box<str>>>,
    /// A 128-bit hash of everything an answer depends on (see [`Snapshot::fingerprint`]).
    fingerprint: u128,
}

/// A user's assignment in a holdout that applies to the request (the tenant's own, or a
/// system-wide one): `holdout` (they get nothing) or `exposed` (they are served as usual).
/// The product logs its outcome events under the holdout's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldoutAssignment<'a> {
    pub experiment_id: Uuid,
    pub variant: Variant,
    /// This assignment as JSON, serialised when the snapshot was built.
    #[serde(skip)]
    pub json: &'a str,
}

/// An owned [`HoldoutAssignment`], as the resolve answer shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HoldoutRef {
    /// The holdout's id (an experiment of kind `holdout`): log outcome events under it.
    pub experiment_id: Uuid,
    /// `holdout`: the user gets no experiment and no deployed winner; `exposed`: served as
    /// usual.
    pub variant: Variant,
}

/// One target's answer for a request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution<'a> {
    pub target_type: TargetType,
    pub target_id: &'a str,
    /// The experiment that assigned the variant; `None` when a deployment answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<Uuid>,
    pub variant: Variant,
    /// Whether a deployed winner (not an experiment) answered.
    pub deployed: bool,
    /// The experiment that decided: the one that assigned the variant, or the one whose
    /// winner is deployed (not part of the resolve answer; OpenFeature's metadata names it).
    #[serde(skip)]
    pub decided_by: Uuid,
    pub configuration: &'a RawValue,
    /// This resolution as JSON, serialised when the snapshot was built (the hot path
    /// concatenates these instead of serialising).
    #[serde(skip)]
    pub json: &'a str,
}

/// An owned [`Resolution`], for clients that keep it (server functions, the middleware).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResolvedConfig {
    pub target_type: TargetType,
    pub target_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment_id: Option<Uuid>,
    pub variant: Variant,
    pub deployed: bool,
    pub configuration: serde_json::Value,
}

impl Resolution<'_> {
    /// An owned copy.
    pub fn to_config(&self) -> ResolvedConfig {
        ResolvedConfig {
            target_type: self.target_type,
            target_id: self.target_id.to_owned(),
            experiment_id: self.experiment_id,
            variant: self.variant,
            deployed: self.deployed,
            configuration: serde_json::from_str(self.configuration.get())
                .unwrap_or(serde_json::Value::Null),
        }
    }
}

/// An assignment resolve made, for exposure bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub experiment_id: Uuid,
    pub variant: Variant,
}

/// `POST /api/v1/insights/resolve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResolveRequest {
    /// 1 to 200 bytes.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub tenant_id: String,
    /// 1 to 1000 bytes.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 1000))]
    pub user_id: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 200))]
    pub intent: Option<String>,
    /// At most 4 KiB of JSON, 32 keys, nested 4 deep.
    #[serde(default)]
    pub scope: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ResolveRequest {
    /// The request's attributes, as targeting reads them.
    pub fn context(&self) -> RequestContext<'_> {
        RequestContext {
            tenant_id: &self.tenant_id,
            user_id: &self.user_id,
            intent: self.intent.as_deref(),
            scope: self.scope.as_ref(),
        }
    }
}

impl Snapshot {
    /// Builds the indexes. Experiments and deployments keep the order given (experiments
    /// oldest first, deployments newest first: for one target the first applicable one wins).
    pub fn new(experiments: Vec<LiveExperiment>, deployments: Vec<LiveDeployment>) -> Self {
        Self::from_shared(
            experiments.into_iter().map(Arc::new).collect(),
            deployments.into_iter().map(Arc::new).collect(),
            Vec::new(),
        )
    }

    /// This snapshot with experiment `id`'s live state replaced: its entry (`experiment`,
    /// `None` when it is no longer active) and its deployment (`deployment`, `None` when its
    /// winner is not deployed). The rest is shared, and each keeps its place in the order
    /// `new` expects: experiments by (start, id), deployments newest first.
    pub fn with_experiment(
        &self,
        id: Uuid,
        experiment: Option<LiveExperiment>,
        deployment: Option<LiveDeployment>,
    ) -> Self {
        let mut experiments: Vec<_> = self
            .experiments
            .iter()
            .filter(|e| e.id != id)
            .cloned()
            .collect();
        if let Some(e) = experiment {
            let key = (e.start_date, e.id);
            let at = experiments.partition_point(|x| (x.start_date, x.id) < key);
            experiments.insert(at, Arc::new(e));
        }
        let mut deployments: Vec<_> = self
            .deployments
            .iter()
            .filter(|d| d.experiment_id != id)
            .cloned()
            .collect();
        if let Some(d) = deployment {
            let at = deployments.partition_point(|x| x.deployed_at >= d.deployed_at);
            deployments.insert(at, Arc::new(d));
        }
        Self::from_shared(experiments, deployments, self.holdouts.clone())
    }

    /// This snapshot with the active holdouts `holdouts` (oldest first).
    pub fn with_holdouts(self, holdouts: Vec<LiveExperiment>) -> Self {
        Self::from_shared(
            self.experiments,
            self.deployments,
            holdouts.into_iter().map(Arc::new).collect(),
        )
    }

    /// This snapshot with holdout `id` replaced by `holdout` (`None`: no longer active).
    pub fn with_holdout(&self, id: Uuid, holdout: Option<LiveExperiment>) -> Self {
        let mut holdouts: Vec<_> = self
            .holdouts
            .iter()
            .filter(|h| h.id != id)
            .cloned()
            .collect();
        if let Some(h) = holdout {
            holdouts.push(Arc::new(h));
        }
        Self::from_shared(self.experiments.clone(), self.deployments.clone(), holdouts)
    }

    fn from_shared(
        experiments: Vec<Arc<LiveExperiment>>,
        deployments: Vec<Arc<LiveDeployment>>,
        holdouts: Vec<Arc<LiveExperiment>>,
    ) -> Self {
        let entry = |r: &Resolution<'_>| -> Box<str> {
            serde_json::to_string(r)
                .unwrap_or_default()
                .into_boxed_str()
        };
        let experiment_entries = experiments
            .iter()
            .map(|e| {
                e.allocation
                    .keys()
                    .iter()
                    .zip(&e.arms)
                    .map(|(&variant, configuration)| {
                        entry(&Resolution {
                            target_type: e.target_type,
                            target_id: &e.target_id,
                            experiment_id: Some(e.id),
                            variant,
                            deployed: false,
                            decided_by: e.id,
                            configuration,
                            json: "",
                        })
                    })
                    .collect()
            })
            .collect();
        let deployment_entries = deployments
            .iter()
            .map(|d| {
                entry(&Resolution {
                    target_type: d.target_type,
                    target_id: &d.target_id,
                    experiment_id: None,
                    variant: d.winner,
                    deployed: true,
                    decided_by: d.experiment_id,
                    configuration: &d.configuration,
                    json: "",
                })
            })
            .collect();
        let holdout_entries = holdouts
            .iter()
            .map(|h| {
                h.allocation
                    .keys()
                    .iter()
                    .map(|&variant| {
                        serde_json::to_string(&HoldoutAssignment {
                            experiment_id: h.id,
                            variant,
                            json: "",
                        })
                        .unwrap_or_default()
                        .into_boxed_str()
                    })
                    .collect()
            })
            .collect();
        let fingerprint = fingerprint(&experiments, &deployments, &holdouts);
        let mut snapshot = Snapshot {
            experiments,
            deployments,
            experiment_entries,
            deployment_entries,
            holdouts,
            holdout_entries,
            fingerprint,
            ..Snapshot::default()
        };
        for (i, e) in snapshot.experiments.iter().enumerate() {
            if e.tenant_id == SYSTEM_TENANT {
                snapshot.system_experiments.push(i);
            } else {
                snapshot
                    .tenant_experiments
                    .entry(e.tenant_id.clone())
                    .or_default()
                    .push(i);
            }
        }
        for (i, d) in snapshot.deployments.iter().enumerate() {
            if d.tenant_id == SYSTEM_TENANT {
                snapshot.system_deployments.push(i);
            } else {
                snapshot
                    .tenant_deployments
                    .entry(d.tenant_id.clone())
                    .or_default()
                    .push(i);
            }
        }
        snapshot
    }

    /// How many experiments and deployments are live.
    pub fn len(&self) -> (usize, usize) {
        (self.experiments.len(), self.deployments.len())
    }

    /// Whether nothing is live.
    pub fn is_empty(&self) -> bool {
        self.experiments.is_empty() && self.deployments.is_empty()
    }

    /// A hash of everything an answer depends on: two snapshots with the same fingerprint
    /// give every request the same answer (an ETag is made from it and the request).
    pub fn fingerprint(&self) -> u128 {
        self.fingerprint
    }

    /// Every target a live experiment or deployment covers for `tenant` (its own and the
    /// system-wide ones), each once, in the order resolve meets them.
    pub fn targets(&self, tenant: &str) -> Vec<TargetRef<'_>> {
        let mut out: Vec<TargetRef<'_>> = Vec::new();
        let all = self
            .experiments_for(tenant)
            .map(|(e, _)| (e.target_type, e.target_id.as_str()))
            .chain(
                self.deployments_for(tenant)
                    .map(|(d, _)| (d.target_type, d.target_id.as_str())),
            );
        for target in all {
            if !out.contains(&target) {
                out.push(target);
            }
        }
        out
    }

    /// Whether a live experiment or deployment covers `target` for `tenant`.
    pub fn covers(&self, tenant: &str, (target_type, target_id): TargetRef<'_>) -> bool {
        self.experiments_for(tenant)
            .any(|(e, _)| e.target_type == target_type && e.target_id == target_id)
            || self
                .deployments_for(tenant)
                .any(|(d, _)| d.target_type == target_type && d.target_id == target_id)
    }

    /// A live experiment (or holdout) by id.
    pub fn experiment(&self, id: Uuid) -> Option<&LiveExperiment> {
        self.experiments
            .iter()
            .chain(self.holdouts.iter())
            .find(|e| e.id == id)
            .map(|e| &**e)
    }

    /// The experiments that apply to the request's tenant (its own and the system-wide
    /// ones), with their serialised answers.
    fn experiments_for<'s>(
        &'s self,
        tenant: &str,
    ) -> impl Iterator<Item = (&'s LiveExperiment, &'s [Box<str>])> {
        self.tenant_experiments
            .get(tenant)
            .into_iter()
            .flatten()
            .chain(self.system_experiments.iter())
            .filter_map(|&i| {
                Some((
                    &**self.experiments.get(i)?,
                    self.experiment_entries.get(i)?.as_slice(),
                ))
            })
    }

    fn deployments_for<'s>(
        &'s self,
        tenant: &str,
    ) -> impl Iterator<Item = (&'s LiveDeployment, &'s str)> {
        self.tenant_deployments
            .get(tenant)
            .into_iter()
            .flatten()
            .chain(self.system_deployments.iter())
            .filter_map(|&i| {
                Some((
                    &**self.deployments.get(i)?,
                    &**self.deployment_entries.get(i)?,
                ))
            })
    }

    /// The configuration of every target an active experiment or a deployment covers for
    /// this request, and the assignments made (for exposure bookkeeping). A user that is not
    /// targeted, or falls outside an experiment's share of traffic, gets nothing for it: the
    /// product keeps its current configuration.
    pub fn resolve<'s>(
        &'s self,
        ctx: &RequestContext<'_>,
        out: &mut Vec<Resolution<'s>>,
        exposures: &mut Vec<Exposure>,
    ) {
        self.resolve_only(ctx, None, out, exposures);
    }

    /// [`resolve`](Self::resolve), for one target only when `only` names one (an OpenFeature
    /// evaluation of one flag): the same rules, and exposures for that target alone.
    pub fn resolve_only<'s>(
        &'s self,
        ctx: &RequestContext<'_>,
        only: Option<TargetRef<'_>>,
        out: &mut Vec<Resolution<'s>>,
        exposures: &mut Vec<Exposure>,
    ) {
        self.resolve_all(ctx, only, out, exposures, &mut Vec::new());
    }

    /// [`resolve_only`](Self::resolve_only), also naming the user's assignment in every
    /// active holdout that applies to the request (the tenant's own and the system-wide
    /// ones). A user in a holdout's `holdout` arm gets nothing at all: no experiment, no
    /// deployed winner. Each holdout assignment is an exposure of the holdout.
    pub fn resolve_all<'s>(
        &'s self,
        ctx: &RequestContext<'_>,
        only: Option<TargetRef<'_>>,
        out: &mut Vec<Resolution<'s>>,
        exposures: &mut Vec<Exposure>,
        holdouts: &mut Vec<HoldoutAssignment<'s>>,
    ) {
        let mut held_out = false;
        for (h, entries) in self.holdouts.iter().zip(&self.holdout_entries) {
            if h.tenant_id != SYSTEM_TENANT && h.tenant_id != ctx.tenant_id {
                continue;
            }
            let Some(arm) = assign_arm(&h.salt, ctx.user_id, &h.allocation) else {
                continue;
            };
            if let (Some(variant), Some(json)) = (h.allocation.key(arm), entries.get(arm)) {
                held_out |= variant == HOLDOUT_ARM;
                exposures.push(Exposure {
                    experiment_id: h.id,
                    variant,
                });
                holdouts.push(HoldoutAssignment {
                    experiment_id: h.id,
                    variant,
                    json,
                });
            }
        }
        if held_out {
            return;
        }
        let wanted = |target_type: TargetType, target_id: &str| {
            only.is_none_or(|(t, id)| t == target_type && id == target_id)
        };
        // The caller's scope is canonicalised once for every experiment and deployment.
        let scope = ctx.scope.map(CanonicalScope::of);
        for (e, entries) in self.experiments_for(ctx.tenant_id) {
            if !wanted(e.target_type, e.target_id.as_str()) {
                continue;
            }
            if out
                .iter()
                .any(|r| r.target_type == e.target_type && r.target_id == e.target_id)
            {
                // One answer per target: experiments that may reach the same users on one
                // target share its layer and hold disjoint slices of it (a start that would
                // break that is refused), so at most one of them holds this user.
                continue;
            }
            if !e.compiled.matches_with(ctx, scope.as_ref()) {
                continue;
            }
            // Outside its slice of the layer: the next experiment on the target may hold the
            // user.
            if !e.in_slice(ctx.user_id) {
                continue;
            }
            let Some(arm) = assign_arm(&e.salt, ctx.user_id, &e.allocation) else {
                continue;
            };
            if let (Some(variant), Some(configuration), Some(json)) =
                (e.allocation.key(arm), e.arms.get(arm), entries.get(arm))
            {
                out.push(Resolution {
                    target_type: e.target_type,
                    target_id: &e.target_id,
                    experiment_id: Some(e.id),
                    variant,
                    deployed: false,
                    decided_by: e.id,
                    configuration,
                    json,
                });
                exposures.push(Exposure {
                    experiment_id: e.id,
                    variant,
                });
            }
        }
        let mut decided: Vec<(TargetType, &str)> = Vec::new();
        for (d, entry) in self.deployments_for(ctx.tenant_id) {
            if !wanted(d.target_type, d.target_id.as_str()) {
                continue;
            }
            let target = (d.target_type, d.target_id.as_str());
            if decided.contains(&target)
                || out
                    .iter()
                    .any(|r| r.target_type == d.target_type && r.target_id == d.target_id)
            {
                continue;
            }
            if !d.compiled.matches_with(ctx, scope.as_ref()) {
                continue;
            }
            // Only the newest applicable deployment of a target decides it.
            decided.push(target);
            if in_rollout(&d.salt, ctx.user_id, d.rollout_percentage) {
                out.push(Resolution {
                    target_type: d.target_type,
                    target_id: &d.target_id,
                    experiment_id: None,
                    variant: d.winner,
                    deployed: true,
                    decided_by: d.experiment_id,
                    configuration: &d.configuration,
                    json: entry,
                });
            }
        }
    }
}

/// XXH3-128 over every field of the live experiments and deployments that an answer
/// depends on, each length-prefixed (so no two different snapshots run together alike).
fn fingerprint(
    experiments: &[Arc<LiveExperiment>],
    deployments: &[Arc<LiveDeployment>],
    holdouts: &[Arc<LiveExperiment>],
) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    let targeting = |t: &Targeting| serde_json::to_vec(t).unwrap_or_default();
    for e in experiments {
        field(b"experiment");
        field(e.id.as_bytes());
        field(e.tenant_id.as_bytes());
        field(e.target_type.as_str().as_bytes());
        field(e.target_id.as_bytes());
        field(e.salt.as_bytes());
        for (key, share) in e.allocation.iter() {
            field(key.as_str().as_bytes());
            field(&[share]);
        }
        field(&targeting(&e.targeting));
        for arm in &e.arms {
            field(arm.get().as_bytes());
        }
        field(e.layer_salt.as_bytes());
        field(&e.slice.start.to_le_bytes());
        field(&e.slice.end.to_le_bytes());
    }
    for d in deployments {
        field(b"deployment");
        field(d.experiment_id.as_bytes());
        field(d.tenant_id.as_bytes());
        field(d.target_type.as_str().as_bytes());
        field(d.target_id.as_bytes());
        field(d.salt.as_bytes());
        field(&[d.rollout_percentage]);
        field(d.winner.as_str().as_bytes());
        field(&targeting(&d.targeting));
        field(d.configuration.get().as_bytes());
    }
    for e in holdouts {
        field(b"holdout");
        field(e.id.as_bytes());
        field(e.tenant_id.as_bytes());
        field(e.salt.as_bytes());
        for (key, share) in e.allocation.iter() {
            field(key.as_str().as_bytes());
            field(&[share]);
        }
    }
    h.digest128()
}

/// The assignment the snapshot would give `ctx` in experiment `id`: `None` when the
/// experiment is not active, the request is not targeted, or the user falls outside the
/// experiment's share of traffic.
pub fn assignment_in(snapshot: &Snapshot, id: Uuid, ctx: &RequestContext<'_>) -> Option<Variant> {
    let e = snapshot.experiment(id)?;
    let reaches = e.tenant_id == SYSTEM_TENANT || e.tenant_id == ctx.tenant_id;
    if !reaches || !e.compiled.matches(ctx) || !e.in_slice(ctx.user_id) {
        return None;
    }
    assign(&e.salt, ctx.user_id, &e.allocation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Arc<RawValue> {
        Arc::from(RawValue::from_string(s.to_owned()).unwrap())
    }

    fn experiment(
        tenant: &str,
        target: &str,
        control: u8,
        treatment: u8,
        t: Targeting,
    ) -> LiveExperiment {
        LiveExperiment {
            id: Uuid::now_v7(),
            tenant_id: tenant.into(),
            target_type: TargetType::Prompt,
            target_id: target.into(),
            salt: format!("salt-{target}-{tenant}"),
            start_date: chrono::Utc::now(),
            allocation: Allocation::new(control, treatment),
            compiled: t.compile(),
            targeting: t,
            arms: vec![raw(r#"{"v":"control"}"#), raw(r#"{"v":"treatment"}"#)],
            layer_salt: format!("layer:target:prompt/{target}").into(),
            slice: LayerSlice::FULL,
        }
    }

    fn deployment(tenant: &str, target: &str, pct: u8) -> LiveDeployment {
        LiveDeployment {
            experiment_id: Uuid::now_v7(),
            tenant_id: tenant.into(),
            target_type: TargetType::Prompt,
            target_id: target.into(),
            salt: "d".into(),
            rollout_percentage: pct,
            winner: Variant::Treatment,
            targeting: Targeting::default(),
            compiled: Targeting::default().compile(),
            configuration: raw(r#"{"v":"winner"}"#),
            deployed_at: chrono::Utc::now(),
        }
    }

    fn targets(s: &Snapshot, tenant: &str, user: &str) -> Vec<(String, bool)> {
        run(s, tenant, user)
            .iter()
            .map(|r| (r.target_id.to_owned(), r.deployed))
            .collect()
    }

    #[test]
    fn replacing_one_experiment_keeps_the_others_and_the_order_a_full_load_gives() {
        let t0 = chrono::Utc::now();
        let mut old = experiment("acme", "p", 100, 0, Targeting::default());
        old.start_date = t0 - chrono::Duration::days(2);
        let other = experiment("acme", "q", 100, 0, Targeting::default());
        let (old_id, other_id) = (old.id, other.id);
        let s = Snapshot::new(vec![old, other], vec![]);

        // A newer experiment on target p, added by a patch, sorts after the older one,
        // which keeps answering p.
        let mut newer = experiment("acme", "p", 0, 100, Targeting::default());
        newer.start_date = t0 - chrono::Duration::days(1);
        let newer_id = newer.id;
        let s = s.with_experiment(newer_id, Some(newer), None);
        assert_eq!(s.len(), (3, 0));
        let r = run(&s, "acme", "u1");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].experiment_id, Some(old_id));
        assert_eq!(r[0].variant, Variant::Control);
        assert_eq!(r[1].experiment_id, Some(other_id));

        // The old one stops and its winner is deployed: the newer experiment answers p, the
        // deployment waits behind it, and the untouched experiment is the same allocation.
        let mut d = deployment("acme", "p", 100);
        d.experiment_id = old_id;
        let patched = s.with_experiment(old_id, None, Some(d));
        let entry = |s: &Snapshot| s.experiments.iter().find(|e| e.id == other_id).cloned();
        assert!(
            Arc::ptr_eq(&entry(&s).unwrap(), &entry(&patched).unwrap()),
            "an experiment the patch does not name is shared, not rebuilt"
        );
        let s = patched;
        assert_eq!(s.len(), (2, 1));
        let r = run(&s, "acme", "u1");
        assert_eq!(r[0].experiment_id, Some(newer_id));
        assert_eq!(r[0].variant, Variant::Treatment);

        // The newer one is paused: the deployment answers p.
        let s = s.with_experiment(newer_id, None, None);
        assert_eq!(
            targets(&s, "acme", "u1"),
            vec![("q".to_owned(), false), ("p".to_owned(), true)]
        );
        // An id the snapshot never had changes nothing.
        let s = s.with_experiment(Uuid::now_v7(), None, None);
        assert_eq!(s.len(), (1, 1));
    }

    #[test]
    fn a_patched_deployment_takes_its_place_newest_first() {
        let t0 = chrono::Utc::now();
        let mut older = deployment("acme", "p", 100);
        older.deployed_at = t0 - chrono::Duration::hours(2);
        older.configuration = raw(r#"{"v":"older"}"#);
        let s = Snapshot::new(vec![], vec![older]);
        let mut newer = deployment("acme", "p", 100);
        newer.deployed_at = t0 - chrono::Duration::hours(1);
        let id = newer.experiment_id;
        let s = s.with_experiment(id, None, Some(newer));
        assert_eq!(
            run(&s, "acme", "u")[0].configuration.get(),
            r#"{"v":"winner"}"#
        );
        // Rolled back (no longer deployed): the older deployment answers again.
        let s = s.with_experiment(id, None, None);
        assert_eq!(
            run(&s, "acme", "u")[0].configuration.get(),
            r#"{"v":"older"}"#
        );
    }

    fn run<'s>(s: &'s Snapshot, tenant: &str, user: &str) -> Vec<Resolution<'s>> {
        let mut out = Vec::new();
        let mut exposures = Vec::new();
        s.resolve(&RequestContext::new(tenant, user), &mut out, &mut exposures);
        assert_eq!(exposures.len(), out.iter().filter(|r| !r.deployed).count());
        out
    }

    #[test]
    fn everyone_in_a_full_experiment_gets_a_variant_and_the_same_one_again() {
        let s = Snapshot::new(
            vec![experiment("acme", "p", 50, 50, Targeting::default())],
            vec![],
        );
        for i in 0..200 {
            let user = format!("u{i}");
            let first = run(&s, "acme", &user);
            assert_eq!(first.len(), 1);
            let again = run(&s, "acme", &user);
            assert_eq!(
                serde_json::to_string(&first).unwrap(),
                serde_json::to_string(&again).unwrap(),
                "sticky"
            );
        }
    }

    #[test]
    fn a_tenants_experiment_does_not_reach_other_tenants_but_a_system_one_does() {
        let s = Snapshot::new(
            vec![
                experiment("acme", "p", 50, 50, Targeting::default()),
                experiment("system", "q", 50, 50, Targeting::default()),
            ],
            vec![],
        );
        assert_eq!(run(&s, "acme", "u1").len(), 2);
        let other = run(&s, "globex", "u1");
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].target_id, "q");
    }

    #[test]
    fn untargeted_users_and_excluded_traffic_get_nothing() {
        let t = Targeting {
            user_ids: vec!["vip".into()],
            ..Targeting::default()
        };
        let s = Snapshot::new(vec![experiment("acme", "p", 50, 50, t)], vec![]);
        assert_eq!(run(&s, "acme", "vip").len(), 1);
        assert!(run(&s, "acme", "someone").is_empty());

        let s = Snapshot::new(
            vec![experiment("acme", "p", 5, 5, Targeting::default())],
            vec![],
        );
        let included = (0..2000)
            .filter(|i| !run(&s, "acme", &format!("u{i}")).is_empty())
            .count();
        assert!(
            (120..280).contains(&included),
            "about 10% of 2000: {included}"
        );
    }

    #[test]
    fn a_deployment_serves_its_rollout_share_and_an_experiment_on_the_target_wins() {
        let s = Snapshot::new(vec![], vec![deployment("acme", "p", 25)]);
        let served = (0..4000)
            .filter(|i| !run(&s, "acme", &format!("u{i}")).is_empty())
            .count();
        assert!((850..1150).contains(&served), "about 25%: {served}");

        let s = Snapshot::new(vec![], vec![deployment("acme", "p", 100)]);
        let r = run(&s, "acme", "u1");
        assert!(r[0].deployed && r[0].experiment_id.is_none());
        assert_eq!(r[0].configuration.get(), r#"{"v":"winner"}"#);

        let s = Snapshot::new(
            vec![experiment("acme", "p", 50, 50, Targeting::default())],
            vec![deployment("acme", "p", 100)],
        );
        let r = run(&s, "acme", "u1");
        assert_eq!(r.len(), 1);
        assert!(!r[0].deployed);
    }

    #[test]
    fn a_held_out_user_gets_nothing_and_an_exposed_one_everything_with_its_holdout_named() {
        use crate::domain::experiment::{EXPOSED_ARM, HOLDOUT_ARM};
        let mut h = experiment("acme", "-", 0, 0, Targeting::default());
        h.allocation = Allocation::from_arms(&[(HOLDOUT_ARM, 30), (EXPOSED_ARM, 70)]).unwrap();
        let hid = h.id;
        let s = Snapshot::new(
            vec![experiment("acme", "p", 50, 50, Targeting::default())],
            vec![deployment("acme", "q", 100)],
        )
        .with_holdouts(vec![h]);
        let mut held = 0;
        for i in 0..2000 {
            let user = format!("u{i}");
            let ctx = RequestContext::new("acme", &user);
            let (mut out, mut exposures, mut holdouts) = (Vec::new(), Vec::new(), Vec::new());
            s.resolve_all(&ctx, None, &mut out, &mut exposures, &mut holdouts);
            assert_eq!(holdouts.len(), 1);
            assert_eq!(holdouts[0].experiment_id, hid);
            assert_eq!(
                exposures[0].experiment_id, hid,
                "the holdout is an exposure"
            );
            if holdouts[0].variant == HOLDOUT_ARM {
                held += 1;
                assert!(out.is_empty(), "neither the experiment nor the deployment");
                assert_eq!(exposures.len(), 1);
            } else {
                assert_eq!(out.len(), 2);
            }
            let body = answer_json_with("acme", "u", &out, &holdouts);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["holdouts"][0]["variant"], holdouts[0].variant.as_str());
            assert_eq!(s.experiment(hid).map(|e| e.id), Some(hid), "events find it");
        }
        assert!((500..700).contains(&held), "about 30%: {held}");
        // Another tenant is not held out by acme's holdout.
        assert_eq!(run(&s, "globex", "u1").len(), 0);
        let (mut out, mut exposures, mut holdouts) = (Vec::new(), Vec::new(), Vec::new());
        s.resolve_all(
            &RequestContext::new("globex", "u1"),
            None,
            &mut out,
            &mut exposures,
            &mut holdouts,
        );
        assert!(holdouts.is_empty());
        // Replaced, then gone: everyone is served again.
        let s = s.with_holdout(hid, None);
        assert_eq!(run(&s, "acme", "u1").len(), 2);
    }

    #[test]
    fn the_resolution_serialises_as_the_api_answers_it() {
        let s = Snapshot::new(vec![], vec![deployment("acme", "p", 100)]);
        let r = &run(&s, "acme", "u")[0];
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(r.json).unwrap(),
            json
        );
        assert_eq!(
            json,
            serde_json::json!({"targetType": "prompt", "targetId": "p", "variant": "treatment",
                               "deployed": true, "configuration": {"v": "winner"}})
        );
    }
}

/// Writes `{"tenantId": …, "userId": …, "assignments": [...]}` from the pre-serialised
/// resolutions: the resolve route's answer, without serialising on the hot path.
pub fn answer_json(tenant_id: &str, user_id: &str, resolutions: &[Resolution<'_>]) -> Vec<u8> {
    answer_json_with(tenant_id, user_id, resolutions, &[])
}

/// [`answer_json`] with the user's holdout assignments (`"holdouts": [...]`, left out when
/// there are none).
pub fn answer_json_with(
    tenant_id: &str,
    user_id: &str,
    resolutions: &[Resolution<'_>],
    holdouts: &[HoldoutAssignment<'_>],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + resolutions.iter().map(|r| r.json.len() + 1).sum::<usize>());
    out.extend_from_slice(b"{\"tenantId\":");
    // Strings to JSON cannot fail.
    let _ = serde_json::to_writer(&mut out, tenant_id);
    out.extend_from_slice(b",\"userId\":");
    let _ = serde_json::to_writer(&mut out, user_id);
    out.extend_from_slice(b",\"assignments\":[");
    for (i, r) in resolutions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.json.as_bytes());
    }
    out.push(b']');
    if !holdouts.is_empty() {
        out.extend_from_slice(b",\"holdouts\":[");
        for (i, h) in holdouts.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(h.json.as_bytes());
        }
        out.push(b']');
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod answer_tests {
    use super::*;

    #[test]
    fn the_answer_is_valid_json_with_every_resolution() {
        let config: Arc<RawValue> = Arc::from(RawValue::from_string("{\"a\":1}".into()).unwrap());
        let r = Resolution {
            target_type: TargetType::Prompt,
            target_id: "p",
            experiment_id: None,
            variant: Variant::Control,
            deployed: true,
            decided_by: Uuid::nil(),
            configuration: &config,
            json: r#"{"targetId":"p"}"#,
        };
        let body = answer_json("acme", "u\"1", &[r.clone(), r]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["userId"], "u\"1");
        assert_eq!(v["assignments"].as_array().unwrap().len(), 2);
        assert_eq!(
            answer_json("t", "u", &[]),
            br#"{"tenantId":"t","userId":"u","assignments":[]}"#
        );
    }
}
