// panva's oidc-provider as the upstream identity provider of signetd's
// federation tests (issue 7). One confidential client, signetd, registered
// with the redirect URIs the test gives. Its own sign-in page asks for a
// username, an optional email, and whether a second factor was used; the
// ID token's `amr` and `acr` say so. "Cancel" answers access_denied.
//
// Run: PORT=… CLIENT_ID=… CLIENT_SECRET=… REDIRECT_URIS=a,b node upstream.mjs
// (listens on 127.0.0.1 only)
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT);
const ISSUER = `http://127.0.0.1:${PORT}`;
const emails = new Map();

function privJwk(kid) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
}

const provider = new Provider(ISSUER, {
  jwks: { keys: [privJwk(`upstream-${PORT}`)] },
  cookies: { keys: ['upstream-cookie-secret-not-for-production'] },
  scopes: ['openid', 'profile', 'email'],
  // amr and acr are in the ID token when the client asks for them with the
  // claims parameter (OpenID Connect Core §5.5), as signetd does.
  claims: { amr: null, acr: null, openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  acrValues: ['urn:upstream:pwd', 'urn:upstream:mfa'],
  // The scopes' claims go in the ID token, which is all signetd reads.
  conformIdTokenClaims: false,
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: sub, email: emails.get(sub) ?? `${sub}@upstream.test`, email_verified: true }),
  }),
  clients: [
    {
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: process.env.REDIRECT_URIS.split(','),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
  // signetd is first-party here: no consent screen.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email');
    await grant.save();
    return grant;
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const page = `<!doctype html><html><head><title>Upstream sign-in</title></head><body><h1>Upstream sign-in</h1>
<form method="post">
<label>Username <input id="login" name="login" autofocus></label>
<label>Email <input id="email" name="email"></label>
<label><input type="checkbox" id="mfa" name="mfa"> Used a second factor</label>
<button id="signin" name="action" value="login">Sign in</button>
<button id="abort" name="action" value="abort">Cancel</button>
</form></body></html>`;

async function body(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return new URLSearchParams(data);
}

const callback = provider.callback();
http
  .createServer(async (req, res) => {
    if (!/^\/interaction\/[^/?]+$/.test(req.url)) return callback(req, res);
    try {
      await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        return res.end(page);
      }
      const form = await body(req);
      if (form.get('action') === 'abort') {
        const result = { error: 'access_denied', error_description: 'The person cancelled the sign-in' };
        return await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      }
      const sub = form.get('login');
      if (form.get('email')) emails.set(sub, form.get('email'));
      const mfa = form.get('mfa') === 'on';
      const login = {
        accountId: sub,
        amr: mfa ? ['pwd', 'otp'] : ['pwd'],
        acr: mfa ? 'urn:upstream:mfa' : 'urn:upstream:pwd',
        remember: false,
      };
      await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.statusCode = 400;
      res.end(String(err));
    }
  })
  .listen(PORT, '127.0.0.1', () => console.log(`upstream oidc-provider listening on ${ISSUER}`));
