//! Claim mappings: expressions evaluated when tokens are issued, each
//! computing one custom claim. A change applies to tokens issued afterwards:
//! at once on this instance, on others within the compiled mappings' life.

use serde_json::json;
use signet_core::audit::Action as Event;
use signet_core::claims::validate_claim_name;
use signet_core::id::EnvironmentId;
use signet_core::policy::{Action, Resource};
use signet_store::StoredMapping;

use super::{Authorized, OpError, expected, written};
use crate::state::AppState;

pub const KIND: &str = "claim-mapping";

/// The mapping `id` of `env`.
pub async fn find(state: &AppState, env: &EnvironmentId, id: &str) -> Result<StoredMapping, OpError> {
    state.store.environment(env).await?.ok_or(OpError::NotFound("environment"))?;
    state.store.claim_mapping(env, id).await?.ok_or(OpError::NotFound("claim mapping"))
}

/// A claim that may be mapped, and an expression the sandbox compiles.
fn check(state: &AppState, (claim, expression): (&str, &str)) -> Result<(), OpError> {
    validate_claim_name(claim).map_err(|e| OpError::Invalid(format!("claim: {e}")))?;
    state.claim_mappings.engine.compile(expression).map_err(|e| OpError::Invalid(format!("expression: {e}")))?;
    Ok(())
}

/// Adds a mapping of `claim` to `expression` in `env`.
pub async fn create(
    state: &AppState,
    by: &Authorized<'_>,
    env: &EnvironmentId,
    (claim, expression): (String, String),
) -> Result<StoredMapping, OpError> {
    by.covers(Resource::ClaimMappings, Action::Write)?;
    state.store.environment(env).await?.ok_or(OpError::NotFound("environment"))?;
    check(state, (&claim, &expression))?;
    let now = state.now();
    let id = signet_core::crypto::random_id().map_err(OpError::internal)?;
    let m = StoredMapping { id, environment_id: env.to_string(), claim, expression, version: 1, created_at: now };
    let digest = json!({"claim": m.claim, "expression": m.expression});
    let ev = by.event(Event::AdminClaimMappingCreate, Some(env.as_str()), &m.id, Some(&digest), now)?;
    state.store.insert_claim_mapping(&m, &ev).await?;
    state.claim_mappings.forget(env.as_str());
    Ok(m)
}

/// Replaces a mapping's claim and expression; answers it with its new version.
pub async fn update(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    if_match: Option<&str>,
    (claim, expression): (String, String),
) -> Result<StoredMapping, OpError> {
    by.covers(Resource::ClaimMappings, Action::Write)?;
    let current = find(state, env, id).await?;
    let expected = expected(if_match, KIND, &current.id, current.version)?;
    check(state, (&claim, &expression))?;
    let m = StoredMapping { claim, expression, ..current };
    let digest = json!({"claim": m.claim, "expression": m.expression});
    let ev = by.event(Event::AdminClaimMappingUpdate, Some(env.as_str()), &m.id, Some(&digest), state.now())?;
    let answer = state.store.update_claim_mapping(&m, expected, &ev).await?;
    state.claim_mappings.forget(env.as_str());
    Ok(StoredMapping { version: written(answer, "claim mapping")?, ..m })
}

/// Removes a mapping; answers the version its removal took.
pub async fn delete(
    state: &AppState,
    by: &Authorized<'_>,
    (env, id): (&EnvironmentId, &str),
    if_match: Option<&str>,
) -> Result<i64, OpError> {
    by.covers(Resource::ClaimMappings, Action::Write)?;
    let current = find(state, env, id).await?;
    let expected = expected(if_match, KIND, &current.id, current.version)?;
    let digest = json!({"claim": current.claim});
    let ev = by.event(Event::AdminClaimMappingDelete, Some(env.as_str()), &current.id, Some(&digest), state.now())?;
    let answer = state.store.delete_claim_mapping(env, id, expected, &ev).await?;
    state.claim_mappings.forget(env.as_str());
    written(answer, "claim mapping")
}
