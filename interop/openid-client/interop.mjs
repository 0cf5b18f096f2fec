// Interop: panva's openid-client (a certified OpenID relying party, v6 API)
// against a running signetd. A real headless Chromium plays the person who
// signs on and approves the device.
//
// Inputs (environment):
//   ISSUER                signetd issuer, e.g. http://127.0.0.1:PORT/{env}/as
//   CLI_CLIENT_ID         the public native app (auth code + PKCE, device, refresh)
//   WORKER_CLIENT_ID      a confidential worker (client credentials, introspection)
//   WORKER_CLIENT_SECRET
//   END_USER              an end user's username (password only, no TOTP)
//   END_USER_PASSWORD
//   CHROMIUM              Chromium binary (default /usr/bin/chromium)
//
// Prints one line per case and then `N passed, N failed[, N skipped]`; exits
// non-zero if any case failed. Cases share tokens, so the first failure
// skips the rest.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const need = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
};

const ISSUER = need('ISSUER');
const CLI_CLIENT_ID = need('CLI_CLIENT_ID');
const WORKER_CLIENT_ID = need('WORKER_CLIENT_ID');
const WORKER_CLIENT_SECRET = need('WORKER_CLIENT_SECRET');
const END_USER = need('END_USER');
const END_USER_PASSWORD = need('END_USER_PASSWORD');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCOPE = 'openid profile offline_access';

// The whole run stops by itself, whatever hangs.
setTimeout(() => {
  console.error('interop: timed out after 150 s');
  process.exit(3);
}, 150_000).unref();

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Asserts that `promise` rejects with the OAuth error `code` (RFC 6749 §5.2). */
async function rejectsWithOAuthError(promise, code, why) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof client.ResponseBodyError, `${why}: expected an OAuth error body, got ${err}`);
    assert.equal(err.error, code, `${why}: ${err.error}: ${err.error_description}`);
    return true;
  });
}

/** A loopback redirect target (RFC 8252 §7.3) that hands over the first /callback it gets. */
async function loopbackRedirect() {
  let deliver;
  const received = new Promise((resolve) => {
    deliver = resolve;
  });
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (req.method === 'GET' && url.pathname === '/callback') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'close' });
      res.end('<!doctype html><title>Signed on</title><p>You can close this window.</p>');
      deliver(url);
    } else {
      res.writeHead(404, { connection: 'close' }).end();
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const redirectUri = `http://127.0.0.1:${server.address().port}/callback`;
  return { redirectUri, received, close: () => server.close() };
}

/** What the page shows, for a failure message. */
async function describe(page) {
  try {
    const text = (await page.locator('body').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').slice(0, 500);
    return `page ${page.url()} [${await page.title()}]: ${text}`;
  } catch (e) {
    return `page ${page.url()} (unreadable: ${e.message})`;
  }
}

/** Runs `step` on `page`; a failure says what the page showed. */
async function onPage(page, step) {
  try {
    return await step();
  } catch (e) {
    e.message += `\n  ${await describe(page)}`;
    throw e;
  }
}

/** The password step of signetd's sign-on page. */
async function signOn(page) {
  assert.match(await page.title(), /^Sign on/, 'the sign-on page is shown');
  await page.fill('input[name="username"]', END_USER);
  await page.fill('input[name="password"]', END_USER_PASSWORD);
}

const insecure = { execute: [client.allowInsecureRequests] };
const ctx = {};
const cases = [];
const test = (name, fn) => cases.push({ name, fn });

test('discovery', async () => {
  const issuer = new URL(ISSUER);
  ctx.cli = await client.discovery(issuer, CLI_CLIENT_ID, undefined, client.None(), insecure);
  ctx.worker = await client.discovery(
    issuer,
    WORKER_CLIENT_ID,
    undefined,
    client.ClientSecretBasic(WORKER_CLIENT_SECRET),
    insecure,
  );
  const m = ctx.cli.serverMetadata();
  assert.equal(m.issuer, ISSUER);
  for (const [key, path] of [
    ['authorization_endpoint', '/authorize'],
    ['token_endpoint', '/token'],
    ['device_authorization_endpoint', '/device_authorization'],
    ['revocation_endpoint', '/revoke'],
    ['introspection_endpoint', '/introspect'],
    ['userinfo_endpoint', '/userinfo'],
    ['jwks_uri', '/jwks'],
  ]) {
    assert.equal(m[key], `${ISSUER}${path}`, key);
  }
  assert.ok(m.supportsPKCE('S256'), 'S256 PKCE is advertised');
  assert.equal(m.authorization_response_iss_parameter_supported, true, 'RFC 9207 iss is advertised');
  for (const g of [
    'authorization_code',
    'refresh_token',
    'client_credentials',
    'urn:ietf:params:oauth:grant-type:device_code',
  ]) {
    assert.ok(m.grant_types_supported.includes(g), `grant ${g} is advertised`);
  }
  assert.ok(m.id_token_signing_alg_values_supported.includes('ES256'));
  return `issuer ${m.issuer}`;
});

test('authorization code + PKCE, signed on in Chromium', async () => {
  const loopback = await loopbackRedirect();
  try {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(ctx.cli, {
      redirect_uri: loopback.redirectUri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const page = await ctx.browserContext.newPage();
    const callback = await onPage(page, async () => {
      await page.goto(url.href);
      await signOn(page);
      const [cb] = await Promise.all([
        within(15_000, 'the redirect back to the loopback client', loopback.received),
        page.click('button[type="submit"]'),
      ]);
      return cb;
    });
    await page.close();

    assert.equal(callback.searchParams.get('state'), state, 'state comes back');
    assert.equal(callback.searchParams.get('iss'), ISSUER, 'RFC 9207 iss comes back');
    const tokens = await client.authorizationCodeGrant(ctx.cli, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    assert.equal(tokens.token_type, 'bearer');
    assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token, 'access, refresh and ID tokens');
    assert.ok(tokens.expiresIn() > 0, 'expires_in');
    const claims = tokens.claims();
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.aud, CLI_CLIENT_ID);
    assert.equal(claims.nonce, nonce);
    assert.ok(claims.sub, 'sub');
    ctx.sub = claims.sub;
    ctx.code = tokens;
    return `sub ${claims.sub}`;
  } finally {
    loopback.close();
  }
});

test('userinfo', async () => {
  const info = await client.fetchUserInfo(ctx.cli, ctx.code.access_token, ctx.sub);
  assert.equal(info.sub, ctx.sub);
  assert.equal(info.preferred_username, END_USER);
  return `preferred_username ${info.preferred_username}`;
});

/** The person approves device code `d` in Chromium; returns the path taken. */
async function approveDevice(d) {
  const page = await ctx.browserContext.newPage();
  let path;
  await onPage(page, async () => {
    await page.goto(d.verification_uri_complete);
    // The Administrators environment never fills a link's code in (device-code phishing): type it.
    assert.equal(await page.inputValue('input[name="user_code"]'), '', 'the link does not fill the code in');
    await page.fill('input[name="user_code"]', d.user_code);
    await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    // The browser may still be signed on from the code flow: then it goes straight to consent.
    if (await page.locator('input[name="password"]').count()) {
      path = 'signed on, then consent';
      await signOn(page);
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else {
      path = 'session reused, consent';
    }
    assert.match(await page.title(), /^Approve this device\?/);
    assert.ok((await page.locator('body').innerText()).includes(d.user_code), 'consent shows the code');
    await Promise.all([page.waitForNavigation(), page.click('#approve')]);
    assert.match(await page.title(), /^Device approved/);
  });
  await page.close();

  return path;
}

test('device authorization, approved in Chromium', async () => {
  const d = await client.initiateDeviceAuthorization(ctx.cli, { scope: SCOPE });
  assert.match(d.user_code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  assert.equal(d.verification_uri, `${ISSUER}/device`);
  assert.ok(d.verification_uri_complete.startsWith(`${ISSUER}/device?`));
  assert.equal(d.interval, 5);
  // openid-client waits `interval` before each poll; the person approves meanwhile.
  const polling = client.pollDeviceAuthorizationGrant(ctx.cli, d, undefined, { signal: AbortSignal.timeout(60_000) });
  polling.catch(() => {});

  const path = await approveDevice(d);

  const tokens = await polling;
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token, 'access, refresh and ID tokens');
  assert.equal(tokens.claims().sub, ctx.sub, 'the same person');
  ctx.device = tokens;
  return path;
});

test('refresh rotates, and a spent refresh token is refused', async () => {
  const old = ctx.device.refresh_token;
  const next = await client.refreshTokenGrant(ctx.cli, old);
  assert.ok(next.access_token && next.refresh_token);
  assert.notEqual(next.refresh_token, old, 'a new refresh token');
  assert.notEqual(next.access_token, ctx.device.access_token, 'a new access token');
  if (next.id_token) assert.equal(next.claims().sub, ctx.sub);
  await rejectsWithOAuthError(client.refreshTokenGrant(ctx.cli, old), 'invalid_grant', 'the old refresh token');
  // Reuse of a spent token revokes its family (RFC 9700 §4.14.2).
  await rejectsWithOAuthError(
    client.refreshTokenGrant(ctx.cli, next.refresh_token),
    'invalid_grant',
    'the rotated token after reuse',
  );
  return 'rotated; reuse revokes the family';
});

test('introspection', async () => {
  const r = await client.tokenIntrospection(ctx.worker, ctx.code.access_token);
  assert.equal(r.active, true);
  assert.equal(r.client_id, CLI_CLIENT_ID);
  assert.equal(r.sub, ctx.sub);
  assert.equal(r.username, END_USER);
  assert.equal(r.iss, ISSUER);
  assert.ok(r.scope.split(' ').includes('openid'));
  assert.ok(r.exp > r.iat);
  const junk = await client.tokenIntrospection(ctx.worker, 'not-a-token');
  assert.equal(junk.active, false);
  return 'active: true for a live token, false for junk';
});

test('revocation', async () => {
  // An access token alone (RFC 7009): it dies, its refresh token lives on.
  await client.tokenRevocation(ctx.cli, ctx.code.access_token, { token_type_hint: 'access_token' });
  assert.equal((await client.tokenIntrospection(ctx.worker, ctx.code.access_token)).active, false);
  await assert.rejects(client.fetchUserInfo(ctx.cli, ctx.code.access_token, ctx.sub), (err) => {
    // RFC 6750 §3: the refusal is a Bearer challenge, which openid-client surfaces as such.
    assert.ok(err instanceof client.WWWAuthenticateChallengeError, `userinfo with a revoked token: ${err}`);
    assert.equal(err.status, 401);
    const bearer = err.cause.find((c) => c.scheme === 'bearer');
    assert.equal(bearer?.parameters.error, 'invalid_token');
    return true;
  });
  const next = await client.refreshTokenGrant(ctx.cli, ctx.code.refresh_token);
  assert.equal((await client.tokenIntrospection(ctx.worker, next.access_token)).active, true);
  // A refresh token: the whole grant dies, access tokens included.
  await client.tokenRevocation(ctx.cli, next.refresh_token, { token_type_hint: 'refresh_token' });
  assert.equal((await client.tokenIntrospection(ctx.worker, next.access_token)).active, false);
  await rejectsWithOAuthError(
    client.refreshTokenGrant(ctx.cli, next.refresh_token),
    'invalid_grant',
    'a revoked refresh token',
  );
  // Unknown tokens are accepted silently (RFC 7009 §2.2).
  await client.tokenRevocation(ctx.cli, 'not-a-token');
  return 'access token, then refresh token and its family';
});

test('client credentials', async () => {
  const tokens = await client.clientCredentialsGrant(ctx.worker);
  assert.equal(tokens.token_type, 'bearer');
  assert.ok(tokens.access_token);
  assert.equal(tokens.refresh_token, undefined, 'no refresh token for client credentials');
  const r = await client.tokenIntrospection(ctx.worker, tokens.access_token);
  assert.equal(r.active, true);
  assert.equal(r.client_id, WORKER_CLIENT_ID);
  assert.equal(r.sub, WORKER_CLIENT_ID);
  return 'worker token introspects as active';
});

test('DPoP: bound tokens from the device flow, used and refreshed with proofs (RFC 9449)', async () => {
  const key = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(ctx.cli, key);
  const d = await client.initiateDeviceAuthorization(ctx.cli, { scope: SCOPE });
  const polling = client.pollDeviceAuthorizationGrant(ctx.cli, d, undefined, {
    DPoP,
    signal: AbortSignal.timeout(60_000),
  });
  polling.catch(() => {});
  await approveDevice(d);
  const tokens = await polling;
  assert.equal(tokens.token_type, 'dpop', 'bound to the key');
  const seen = await client.tokenIntrospection(ctx.worker, tokens.access_token);
  assert.equal(seen.token_type, 'DPoP');
  assert.ok(seen.cnf?.jkt, 'introspection names the key (cnf.jkt)');

  // userinfo with a fresh proof carrying ath; as Bearer it is refused.
  const info = await client.fetchUserInfo(ctx.cli, tokens.access_token, ctx.sub, { DPoP });
  assert.equal(info.sub, ctx.sub);
  await assert.rejects(client.fetchUserInfo(ctx.cli, tokens.access_token, ctx.sub), (err) => {
    assert.ok(err instanceof client.WWWAuthenticateChallengeError, `a bound token as Bearer: ${err}`);
    assert.equal(err.status, 401);
    const dpop = err.cause.find((c) => c.scheme === 'dpop');
    assert.equal(dpop?.parameters.error, 'invalid_token');
    return true;
  });

  // A public client's refresh token is bound too: another key is refused and spends nothing.
  const other = client.getDPoPHandle(ctx.cli, await client.randomDPoPKeyPair('ES256'));
  await rejectsWithOAuthError(
    client.refreshTokenGrant(ctx.cli, tokens.refresh_token, undefined, { DPoP: other }),
    'invalid_grant',
    'a refresh with another key',
  );
  const next = await client.refreshTokenGrant(ctx.cli, tokens.refresh_token, undefined, { DPoP });
  assert.equal(next.token_type, 'dpop');
  assert.equal((await client.tokenIntrospection(ctx.worker, next.access_token)).cnf?.jkt, seen.cnf.jkt, 'same key');
  return `bound to ${seen.cnf.jkt.slice(0, 8)}…; userinfo and refresh with proofs`;
});

test('DPoP: client credentials', async () => {
  const DPoP = client.getDPoPHandle(ctx.worker, await client.randomDPoPKeyPair('ES256'));
  const tokens = await client.clientCredentialsGrant(ctx.worker, undefined, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.equal((await client.tokenIntrospection(ctx.worker, tokens.access_token)).token_type, 'DPoP');
  return 'token_type DPoP';
});

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  ctx.browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // One context for every case: the device flow may find the code flow's session.
  ctx.browserContext = await ctx.browser.newContext();
} catch (e) {
  console.error(`interop: could not start Chromium at ${CHROMIUM}: ${e.message}`);
  process.exit(2);
}
try {
  for (const { name, fn } of cases) {
    if (failed) {
      skipped += 1;
      console.log(`skip ${name}`);
      continue;
    }
    const started = Date.now();
    try {
      const note = await fn();
      passed += 1;
      console.log(`ok   ${name} (${Date.now() - started} ms)${note ? `: ${note}` : ''}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}`);
      console.error(`${name}:`, e);
    }
  }
} finally {
  await ctx.browser.close();
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed ? 1 : 0;
