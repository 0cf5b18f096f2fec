//! Goal 7: what DPoP binding (RFC 9449) costs. Each bound path is measured
//! against its unbound twin on the same signetd in the same run:
//!
//! - client_credentials for the bootstrap worker (goal 1's request): plain,
//!   and with a proof of `POST {issuer}/token` on each request, which makes
//!   the answer `token_type: DPoP` with `cnf.jkt`;
//! - refresh grants of the CLI, a public client (goal 2's request): families
//!   seeded unbound, and families seeded bound to the key (`Grant::jkt`), as
//!   signetd binds a public client's, which refresh only with its proof;
//! - goal 5's `GET /admin-api/v1/accounts/{username}` by a worker holding the
//!   Admin role, with the oauth scheme on: its Bearer token, and a DPoP-bound
//!   token of the same worker as `Authorization: DPoP` with a proof carrying
//!   `ath`.
//!
//! A proof is single-use (signetd spends each `jti` in its store) and fresh
//! for 60 s, so every bound load gets its own pool of proofs, signed on every
//! core just before that load starts and sized from the unbound rate. Signing
//! is then no part of the timed run: what is measured is the server's check.
//! Both sides of each ratio run pool.lua, so wrk does the same Lua per
//! request; the unbound lines carry no proof. The unbound load runs before
//! and after the bound one, and the ratio is against their mean. Goal: bound
//! at least 0.6 times unbound (binding costs at most 40% of throughput).
//!
//! Every load must have no error answers and no socket errors, and a pool
//! that runs out shows as POOL EXHAUSTED. Requests by hand before and after
//! the loads show that the bound path is bound: a bound token comes as
//! `token_type: DPoP` with the key's `cnf.jkt`; a replayed proof is refused
//! (after the load, one the load itself spent); a bound refresh token is
//! refused without a proof or with another key's; a bound access token is
//! refused as Bearer at the admin API.

mod by_hand;
mod compare;
mod grants;

use std::sync::Arc;

use anyhow::Context;
use signet_client::ProofKey;
use signet_core::dpop::IAT_WINDOW;

use crate::context::{Bench, Signetd};
use crate::report::{Table, per_sec, thousands};
use compare::{FRESH_SLACK, Rig, Signing};

pub async fn run(bench: &Bench, signetd: &Signetd, table: &mut Table) -> anyhow::Result<()> {
    table.section("7");
    anyhow::ensure!(
        bench.secs.max(bench.warmup) + FRESH_SLACK < IAT_WINDOW.unsigned_abs(),
        "goal 7's proofs are fresh for {IAT_WINDOW} s: run it with --seconds below {}",
        IAT_WINDOW.unsigned_abs() - FRESH_SLACK
    );
    let key = Arc::new(ProofKey::generate().context("generating a DPoP key")?);
    bench.note(&format!("dpop: proofs by the key {}", key.thumbprint()));
    let mut signing = Signing::default();
    let http = reqwest::Client::new();

    let rig = Rig { bench, signetd, http: &http, key: &key };

    let (cc, cc_rate) = grants::client_credentials(&rig, &mut signing).await?;
    let refresh = grants::refresh(&rig, &mut signing, cc_rate).await?;
    let admin = grants::admin_get(&rig, &mut signing).await?;
    let spent = by_hand::jtis_spent(signetd)?;

    cc.report(table, "client_credentials", "unbound", "DPoP-bound");
    refresh.report(table, "refresh grants (SQLite)", "unbound", "DPoP-bound family");
    admin.report(table, "admin GET", "Bearer", "DPoP-bound token");
    table.info(
        "DPoP proofs signed ahead of the loads",
        thousands(signing.proofs as f64),
        &format!(
            "ES256 on {} threads in {:.1} s ({}), not timed; dpop_jtis holds {} spent jtis",
            signing.threads,
            signing.secs,
            per_sec(signing.proofs as f64 / signing.secs.max(1e-9)),
            thousands(spent as f64)
        ),
    );
    Ok(())
}
