import { randomBytes } from 'node:crypto';
import type { Scenario } from './load.js';
import { benchUserId } from './seed.js';

const json = { 'content-type': 'application/json' };
const pick = (users: number) => benchUserId(Math.floor(Math.random() * users));
const word = () => `N${randomBytes(6).toString('hex')}`;

/** The list cursor of the service (opaque to clients: `u1:<seq>` in base64url), built to start deep in the table. */
export function cursorAfter(seq: number): string {
  return Buffer.from(`u1:${seq}`).toString('base64url');
}

let created = 0;
const runTag = randomBytes(4).toString('hex');

/** The calls measured on both the service and the reference server. */
export function userScenarios(users: number, lastSeq: number): Scenario[] {
  const deep = cursorAfter(Math.max(0, lastSeq - 100));
  return [
    {
      id: 'patch',
      title: 'PATCH /v1/users/{id} (random user, random first_name)',
      reference: true,
      requests: (auth) => [
        {
          method: 'PATCH',
          headers: { ...json, authorization: auth },
          setupRequest: (req) => ({ ...req, path: `/v1/users/${pick(users)}`, body: JSON.stringify({ first_name: word() }) }),
        },
      ],
    },
    {
      id: 'get',
      title: 'GET /v1/users/{id} (random user)',
      reference: true,
      requests: (auth) => [{ method: 'GET', headers: { authorization: auth }, setupRequest: (req) => ({ ...req, path: `/v1/users/${pick(users)}` }) }],
    },
    // Both pages are asked for with a query string: parsing and validating one costs Roster a few
    // microseconds whatever it holds, and the deep-page check compares depth, not that.
    {
      id: 'list-first',
      title: 'GET /v1/users?limit=20 (the first page)',
      reference: true,
      requests: (auth) => [{ method: 'GET', path: '/v1/users?limit=20', headers: { authorization: auth } }],
    },
    {
      id: 'list-deep',
      title: `GET /v1/users?limit=20&cursor=… (a page after user #${Math.max(0, lastSeq - 100)})`,
      reference: true,
      requests: (auth) => [{ method: 'GET', path: `/v1/users?limit=20&cursor=${deep}`, headers: { authorization: auth } }],
    },
    {
      id: 'create',
      title: 'POST /v1/users (a new user each time)',
      reference: true,
      requests: (auth) => [
        {
          method: 'POST',
          path: '/v1/users',
          headers: { ...json, authorization: auth },
          setupRequest: (req) => {
            const n = created++;
            return { ...req, body: JSON.stringify({ email: `new-${runTag}-${n}@example.com`, username: `new_${runTag}_${n}`, first_name: 'New' }) };
          },
        },
      ],
    },
  ];
}

/**
 * POST /oauth/token (client credentials) then a GET with the token it returned: measured only on
 * the service, when the tree has the endpoint and a client could be registered.
 */
export function oauthScenario(users: number, clientId: string, clientSecret: string): Scenario {
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
  return {
    id: 'oauth',
    title: 'POST /oauth/token (client credentials) + GET /v1/users/{id} with the token',
    reference: false,
    requests: () => [
      {
        method: 'POST',
        path: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: 'grant_type=client_credentials&scope=read',
        onResponse: (status, body, context) => {
          if (status === 200) context.token = (JSON.parse(body) as { access_token: string }).access_token;
        },
      },
      {
        method: 'GET',
        setupRequest: (req, context) => ({ ...req, path: `/v1/users/${pick(users)}`, headers: { authorization: `Bearer ${String(context.token)}` } }),
      },
    ],
  };
}
