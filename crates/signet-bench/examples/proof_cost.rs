//! What one DPoP proof costs signetd's CPU, on one thread, against the
//! floor under it: raw P-256 ECDSA verification by the same library. Goal
//! 7 (`bench/run.sh --only dpop`) compares whole requests; this says how
//! much of a bound request's extra time no implementation can save.
//!
//! `cargo run --release -p signet-bench --example proof_cost`

use std::time::Instant;

use base64::Engine;
use signet_core::dpop::{Expect, check};

const N: usize = 20_000;

fn main() -> anyhow::Result<()> {
    let key = signet_client::ProofKey::generate()?;
    let url = "http://127.0.0.1:1/env/as/token";
    let now = 1_800_000_000;
    let proofs: Vec<String> = (0..N).map(|_| key.proof_at("POST", url, None, None, now)).collect();

    let (message, signature) = proofs[0].rsplit_once('.').ok_or_else(|| anyhow::anyhow!("not a JWS"))?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature)?;
    // The SPKI's last 65 bytes are the uncompressed point.
    let spki = key.public_spki_der();
    let point = spki[spki.len() - 65..].to_vec();
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point);
    let started = Instant::now();
    for _ in 0..N {
        public.verify(message.as_bytes(), &signature).map_err(|_| anyhow::anyhow!("bad signature"))?;
    }
    let raw = started.elapsed().as_secs_f64() * 1e6 / N as f64;

    let started = Instant::now();
    for p in &proofs {
        check(p, &Expect { method: "POST", url, now, access_token: None, nonce: None })
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let whole = started.elapsed().as_secs_f64() * 1e6 / N as f64;
    println!("raw P-256 verification: {raw:.1} µs; signet_core::dpop::check: {whole:.1} µs ({N} proofs, one thread)");
    Ok(())
}
