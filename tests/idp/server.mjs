// A real OpenID Provider for the gateway's tests: oidc-provider (the certified Node.js
// implementation) on 127.0.0.1, in memory, with test accounts, the console's client (code flow,
// PKCE required, public) and a machine client (client_credentials -> JWT access tokens for the
// gateway's API). Started by tests/browser/idp.py; never used outside tests.
//
//   node server.mjs --redirect-uri URL [--post-logout-redirect-uri URL] [--port 0]
//                   [--tenant acme] [--machine <client id>=<tenant> ...]
//                   [--audience sovereign-gateway]
//                   [--resource urn:sovereign-gateway:api]
//
// Prints one JSON line when listening: {"ready": true, "issuer": "http://127.0.0.1:<port>"}.
// POST /admin/rotate-keys: a new signing key (its kid returned); the old one stays published.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'redirect-uri': { type: 'string', multiple: true, default: [] },
    'post-logout-redirect-uri': { type: 'string', multiple: true, default: [] },
    tenant: { type: 'string', default: 'acme' }, // tom's and acme-machine's tenant
    machine: { type: 'string', multiple: true, default: [] }, // more machine clients
    audience: { type: 'string', default: 'sovereign-gateway' },
    resource: { type: 'string', default: 'urn:sovereign-gateway:api' },
  },
});

// Users sign in with their name and "<name>-password". sg_roles are the IdP's groups, which
// the gateway's identity.issuers[].role_map turns into its roles.
const ACCOUNTS = {
  alice: { name: 'Alice Admin', sg_roles: ['gw-platform-admins'] },
  tom: { name: 'Tom Tenant', sg_roles: ['gw-tenant-admins'], sg_tenant: args.tenant },
  dora: { name: 'Dora DPO', sg_roles: ['gw-dpo'] },
  audrey: { name: 'Audrey Auditor', sg_roles: ['gw-auditors'] },
};
const COOKIE_KEYS = [randomBytes(32).toString('hex')];
// client_credentials clients (secret "<client id>-secret"): each one's tokens name its tenant
// (sg_tenant).
const MACHINES = Object.fromEntries(
  ['acme-machine=' + args.tenant, ...args.machine].map((spec) => {
    const [id, tenant] = spec.split('=');
    return [id, { secret: `${id}-secret`, tenant }];
  }),
);

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>${title}</title><style>body{font-family:sans-serif;max-width:22rem;margin:3rem auto}
input,button{display:block;width:100%;margin:.4rem 0;padding:.4rem}</style></head>
<body><h1>${title}</h1>${body}</body></html>`;
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function configuration(keys) {
  return {
    clients: [
      {
        client_id: 'sovereign-console',
        token_endpoint_auth_method: 'none', // public: PKCE alone protects the code
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: args['redirect-uri'],
        post_logout_redirect_uris: args['post-logout-redirect-uri'],
      },
      ...Object.entries(MACHINES).map(([id, m]) => ({
        client_id: id,
        client_secret: m.secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    jwks: { keys },
    cookies: { keys: COOKIE_KEYS }, // one set for the process: sessions outlive a key rotation
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'sg_roles', 'sg_tenant'],
    },
    // The ID token carries the profile claims too (the console reads roles from it).
    conformIdTokenClaims: false,
    async findAccount(_ctx, id) {
      const account = ACCOUNTS[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, preferred_username: id, ...account };
        },
      };
    },
    features: {
      devInteractions: { enabled: false }, // our own login page below checks passwords
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `${form}<button data-testid="idp-logout" type="submit"
            form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource() {
          return args.resource;
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(_ctx, resource) {
          if (resource !== args.resource) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'inference',
            audience: args.audience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      const machine = MACHINES[token.clientId];
      if (token.kind === 'ClientCredentials' && machine) return { sg_tenant: machine.tenant };
      return undefined;
    },
    // No external fonts or scripts: the browser under test reaches localhost only.
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre data-testid="idp-error">${escape(JSON.stringify(out))}</pre>`);
    },
    ttl: { AccessToken: 600, ClientCredentials: 600, IdToken: 600, Interaction: 600,
      Session: 3600, Grant: 3600, AuthorizationCode: 60 },
  };
}

function loginForm(uid, error) {
  return page('Sign in', `${error ? `<p data-testid="idp-login-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login" autocomplete="off">
<label>User <input name="username" data-testid="idp-username" autofocus></label>
<label>Password <input name="password" type="password" data-testid="idp-password"></label>
<button type="submit" data-testid="idp-submit">Sign in</button></form>`);
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// The consent of a first-party client: everything it asked for, granted without a page.
async function grantConsent(provider, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const saved = await grant.save();
  return { consent: grantId ? {} : { grantId: saved } };
}

async function interaction(provider, req, res, path) {
  const details = await provider.interactionDetails(req, res);
  const html = (status, body) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
  };
  if (req.method === 'POST' && path.endsWith('/login')) {
    const form = await formBody(req);
    const username = form.get('username') ?? '';
    if (!ACCOUNTS[username] || form.get('password') !== `${username}-password`) {
      return html(401, loginForm(details.uid, 'Unknown user or wrong password.'));
    }
    const result = { login: { accountId: username } };
    return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === 'login') return html(200, loginForm(details.uid));
  const result = await grantConsent(provider, details);
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const keys = [signingKey()];
let provider;
let handle; // provider.callback(), made once per provider
const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://idp').pathname;
  const fail = (err) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(String(err?.message ?? err));
  };
  if (path.startsWith('/interaction/')) {
    interaction(provider, req, res, path).catch(fail);
  } else if (path === '/admin/rotate-keys' && req.method === 'POST') {
    // Newest key first: oidc-provider signs with the first usable one; old tokens still verify.
    keys.unshift(signingKey());
    provider = new Provider(provider.issuer, configuration(keys));
    handle = provider.callback();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid }));
  } else {
    handle(req, res);
  }
});
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration(keys));
  handle = provider.callback();
  console.log(JSON.stringify({ ready: true, issuer }));
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
