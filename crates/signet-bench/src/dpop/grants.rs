//! The three bound paths, each against its unbound twin, with the requests
//! by hand before and after its loads.

use signet_core::id::EnvironmentId;
use std::time::Instant;

use anyhow::Context;
use signet_client::ProofKey;
use signet_core::model::CLI_CLIENT_ID;

use super::by_hand::{
    expect_account_dpop, expect_issued, expect_refused, expect_replay, get_status, public_url, token_htu, token_request,
};
use super::compare::{
    BARE_MARGIN, Compared, MARGIN, Pools, Rig, Series, Signing, Values, compare, load, size, unbound_lines,
};
use crate::admin::{expect_account, set_up};
use crate::refresh::seed;
use crate::wrk::{self, Load};

const API: &str = "/admin-api/v1";
const CC_BODY: &str = "grant_type=client_credentials";
/// Refresh families set aside for the checks by hand.
const BOUND_CHECKS: usize = 3;

/// Goal 1's grant for the bootstrap worker. Returns the comparison and the
/// rate of the unbound warm-up, which sizes the first refresh pool.
pub(super) async fn client_credentials(rig: &Rig<'_>, signing: &mut Signing) -> anyhow::Result<(Compared, f64)> {
    let Rig { bench, signetd, http, key } = *rig;
    let token_path = signetd.path("/token")?;
    let token_url = format!("{}{token_path}", signetd.base);
    let htu = token_htu(signetd);
    let auth = signetd.worker_basic();
    let grant = |proof: Option<String>| token_request(http, &token_url, Some(&auth), CC_BODY.to_owned(), proof);

    let (status, body) = grant(None).await?;
    expect_issued("client_credentials without a proof", status, &body, "Bearer", None)?;
    let bound_by_hand = |when: &'static str| {
        let grant = &grant;
        let htu = &htu;
        async move {
            let proof = key.proof("POST", htu, None, None);
            let (status, body) = grant(Some(proof.clone())).await?;
            expect_issued(
                &format!("client_credentials with a proof, {when}"),
                status,
                &body,
                "DPoP",
                Some(key.thumbprint()),
            )?;
            let (status, body) = grant(Some(proof)).await?;
            expect_replay(&format!("client_credentials with a replayed proof, {when}"), status, &body)
        }
    };
    bound_by_hand("before the loads").await?;

    // A first rate from goal 1's static script, to size the pools.
    let warm = wrk::run(
        bench,
        Load {
            name: "dpop-cc-warmup".into(),
            script: bench.script("cc.lua"),
            url: token_url.clone(),
            secs: bench.warmup.max(1),
            env: vec![("BENCH_AUTH", auth.clone()), ("BENCH_BODY", CC_BODY.to_owned())],
        },
    )
    .await?;
    anyhow::ensure!(warm.errors() == 0, "dpop-cc-warmup: {}", warm.describe());
    let rate = warm.rate();

    let series = Series {
        name: "dpop-cc",
        path: token_path,
        method: "POST",
        prefix: CC_BODY.to_owned(),
        unbound_auth: Some(auth.clone()),
        bound_auth: Some(auth.clone()),
        htu: htu.clone(),
        ath: None,
    };
    let n = size(rate, bench.secs, BARE_MARGIN);
    let pools = Pools { unbound: Values::Empty, bound: Values::Empty, sizes: [n, n], bound_sizes: None };
    let compared = compare(rig, signing, &series, pools).await?;

    bound_by_hand("after the loads").await?;
    let (value, proof) = &compared.spent;
    let (status, body) =
        token_request(http, &token_url, Some(&auth), format!("{CC_BODY}{value}"), Some(proof.clone())).await?;
    expect_replay("client_credentials with a proof the bound load spent", status, &body)?;
    Ok((compared, rate))
}

/// Goal 2's grant for the CLI's families, unbound and bound to the key.
pub(super) async fn refresh(rig: &Rig<'_>, signing: &mut Signing, cc_rate: f64) -> anyhow::Result<Compared> {
    let Rig { signetd, http, key, .. } = *rig;
    let token_path = signetd.path("/token")?;
    let token_url = format!("{}{token_path}", signetd.base);
    let htu = token_htu(signetd);
    let prefix = format!("grant_type=refresh_token&client_id={CLI_CLIENT_ID}&refresh_token=");
    let series = Series {
        name: "dpop-refresh",
        path: token_path,
        method: "POST",
        prefix: prefix.clone(),
        unbound_auth: None,
        bound_auth: None,
        htu: htu.clone(),
        ath: None,
    };
    let Families { mut unbound, bound, checks, n, nw } = seed_families(rig, &series, cc_rate).await?;
    let plain = unbound.pop().context("empty pool")?;

    let grant =
        |token: &str, proof: Option<String>| token_request(http, &token_url, None, format!("{prefix}{token}"), proof);
    let (status, body) = grant(&plain, None).await?;
    expect_issued("refresh of an unbound family", status, &body, "Bearer", None)?;
    let (status, body) = grant(&checks[0], None).await?;
    expect_refused("refresh of a bound family without a proof", status, &body, 400, "invalid_dpop_proof")?;
    let other = ProofKey::generate().context("generating a second DPoP key")?;
    let (status, body) = grant(&checks[0], Some(other.proof("POST", &htu, None, None))).await?;
    expect_refused("refresh of a bound family with another key's proof", status, &body, 400, "invalid_grant")?;
    let (status, body) = grant(&checks[0], Some(key.proof("POST", &htu, None, None))).await?;
    expect_issued("refresh of a bound family with a proof", status, &body, "DPoP", Some(key.thumbprint()))?;
    let next = body["refresh_token"].as_str().context("the bound family's refresh issued no refresh token")?;
    let (status, body) = grant(next, None).await?;
    expect_refused("the rotated refresh token without a proof", status, &body, 400, "invalid_dpop_proof")?;

    let pools = Pools {
        unbound: Values::Tokens(unbound),
        bound: Values::Tokens(bound),
        sizes: [n, n],
        bound_sizes: Some([nw, n]),
    };
    let compared = compare(rig, signing, &series, pools).await?;

    let (token, proof) = &compared.spent;
    let (status, body) = grant(token, Some(proof.clone())).await?;
    expect_replay("refresh with a token and proof the bound load spent", status, &body)?;
    let (status, body) = grant(&checks[1], None).await?;
    expect_refused("refresh of a bound family without a proof, after", status, &body, 400, "invalid_dpop_proof")?;
    let (status, body) = grant(&checks[1], Some(key.proof("POST", &htu, None, None))).await?;
    expect_issued("refresh of a bound family with a proof, after", status, &body, "DPoP", Some(key.thumbprint()))?;
    Ok(compared)
}

/// The CLI's refresh families in signetd's store, seeded ahead of the loads.
struct Families {
    /// For the two unbound loads, and one more for a request by hand.
    unbound: Vec<String>,
    /// Bound to the key: for the bound warm-up (`nw`) and load (`n`).
    bound: Vec<String>,
    /// Bound too, set aside for the requests by hand.
    checks: Vec<String>,
    n: usize,
    nw: usize,
}

/// Seeds the families, sized from the rate of an unbound warm-up, itself
/// sized from client_credentials, which does the same signing without the
/// store's rotation.
async fn seed_families(rig: &Rig<'_>, series: &Series, cc_rate: f64) -> anyhow::Result<Families> {
    let Rig { bench, signetd, key, .. } = *rig;
    let store = signetd.store().await?;
    let env_id = &signetd.boot.environment_id;
    let username = &signetd.boot.admin.username;
    let admin = store
        .account_by_username(&EnvironmentId::from(env_id.as_str()), username)
        .await?
        .context("the bootstrap administrator is missing")?;
    let warmup = bench.warmup.max(1);
    let warm_tokens = seed(&store, env_id, admin.id.as_str(), size(cc_rate, warmup, 1.2), None).await?;
    let warm = load(rig, "dpop-refresh-warmup", series, None, &unbound_lines(warm_tokens), warmup).await?;
    let rate = warm.rate();

    let (n, nw) = (size(rate, bench.secs, MARGIN), size(rate, bench.warmup, MARGIN));
    let started = Instant::now();
    let unbound = seed(&store, env_id, admin.id.as_str(), 2 * n + 1, None).await?;
    let mut bound = seed(&store, env_id, admin.id.as_str(), nw + n + BOUND_CHECKS, Some(key.thumbprint())).await?;
    store.close().await;
    bench.note(&format!(
        "dpop-refresh: seeded {} unbound and {} bound families in {:.1} s",
        unbound.len(),
        bound.len(),
        started.elapsed().as_secs_f64()
    ));
    let checks = bound.split_off(bound.len().saturating_sub(BOUND_CHECKS));
    anyhow::ensure!(checks.len() == BOUND_CHECKS, "too few bound families were seeded");
    Ok(Families { unbound, bound, checks, n, nw })
}

/// Goal 5's admin GET with the same worker's Bearer token and DPoP-bound token.
pub(super) async fn admin_get(rig: &Rig<'_>, signing: &mut Signing) -> anyhow::Result<Compared> {
    let Rig { bench, signetd, http, key } = *rig;
    let username = &signetd.boot.admin.username;
    let path = format!("{API}/accounts/{username}");
    let account_url = format!("{}{path}", signetd.base);
    let htu = format!("{}{path}", public_url(signetd)?);
    let callers = set_up(http, signetd, &account_url).await?;

    let token_url = format!("{}{}", signetd.base, signetd.path("/token")?);
    let proof = key.proof("POST", &token_htu(signetd), None, None);
    let (status, body) =
        token_request(http, &token_url, Some(&callers.worker), CC_BODY.to_owned(), Some(proof)).await?;
    expect_issued("the admin worker's token with a proof", status, &body, "DPoP", Some(key.thumbprint()))?;
    let token = body["access_token"].as_str().context("no access_token")?.to_owned();
    let dpop_auth = format!("DPoP {token}");

    let bearer = &callers.bearer;
    let bound_by_hand = |when: &'static str| {
        let (htu, token, dpop_auth, account_url) = (&htu, &token, &dpop_auth, &account_url);
        async move {
            let status = get_status(http, account_url, &format!("Bearer {token}"), None).await?;
            anyhow::ensure!(status == 401, "the DPoP-bound token as Bearer answered {status} {when}, not 401");
            let proof = key.proof("GET", htu, Some(token), None);
            expect_account_dpop(http, account_url, dpop_auth, &proof, username)
                .await
                .with_context(|| format!("the DPoP-bound token with a proof, {when}"))?;
            let status = get_status(http, account_url, dpop_auth, Some(&proof)).await?;
            anyhow::ensure!(status == 401, "a replayed proof at the admin API answered {status} {when}, not 401");
            expect_account(http, account_url, bearer, username)
                .await
                .with_context(|| format!("the Bearer token, {when}"))
        }
    };
    bound_by_hand("before the loads").await?;

    // A first rate from goal 5's static script, to size the pools.
    let warm = wrk::run(
        bench,
        Load {
            name: "dpop-admin-warmup".into(),
            script: bench.script("get.lua"),
            url: account_url.clone(),
            secs: bench.warmup.max(1),
            env: vec![("BENCH_AUTH", callers.bearer.clone())],
        },
    )
    .await?;
    anyhow::ensure!(warm.errors() == 0, "dpop-admin-warmup: {}", warm.describe());
    let rate = warm.rate();

    let series = Series {
        name: "dpop-admin",
        path,
        method: "GET",
        prefix: String::new(),
        unbound_auth: Some(callers.bearer.clone()),
        bound_auth: Some(dpop_auth.clone()),
        htu: htu.clone(),
        ath: Some(token.clone()),
    };
    let n = size(rate, bench.secs, BARE_MARGIN);
    let pools = Pools { unbound: Values::Empty, bound: Values::Empty, sizes: [n, n], bound_sizes: None };
    let compared = compare(rig, signing, &series, pools).await?;

    bound_by_hand("after the loads").await?;
    let status = get_status(http, &account_url, &dpop_auth, Some(&compared.spent.1)).await?;
    anyhow::ensure!(status == 401, "the admin API answered a proof the bound load spent with {status}, not 401");
    Ok(compared)
}
