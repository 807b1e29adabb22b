/**
 * The yardstick: the least a server can do for the same calls on the same database, with no
 * framework. node:http, better-sqlite3 prepared statements, the same API-key check (SHA-256 of the
 * bearer, a lookup by key id, a constant-time compare, the scope) and a JSON reply. No logging,
 * no validation beyond what the statements need, no events, no rate limit: the ratio of the
 * service to this is what Roster's safety costs.
 *
 * Usage: tsx bench/reference-server.ts <sqlite file> — prints `listening <port>` when ready.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import SQLite from 'better-sqlite3';

const db = new SQLite(process.argv[2]);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');

const findKey = db.prepare('select secret_hash, scopes, revoked_at from api_keys where id = ?');
const columns = 'id, email, username, first_name, last_name, role, email_verified, metadata, created_at, updated_at';
const findUser = db.prepare(`select ${columns} from users where id = ? and deleted_at is null`);
const listUsers = db.prepare(`select seq, ${columns} from users where deleted_at is null and seq > ? order by seq limit ?`);
// Writes run with .all(), to their end: .get() on a statement with RETURNING commits when the
// statement is reset, and SQLite runs its automatic WAL checkpoint only when a statement steps to
// its end. With .get() the WAL grew by every write (170 MB in 6 s), and a server sharing the file
// paid for the checkpoints.
const updateName = db.prepare(
  `update users set first_name = ?, first_name_key = ?, updated_at = ?, version = version + 1 where id = ? and deleted_at is null returning ${columns}`,
);
const insertUser = db.prepare(
  `insert into users (id, email, email_key, username, username_key, first_name, first_name_key, role, email_verified, metadata, version, created_at, updated_at)
   values (?, ?, ?, ?, ?, ?, ?, 'member', 0, '{}', 1, ?, ?) returning ${columns}`,
);

type Row = Record<string, unknown>;
const wire = (r: Row) => ({ ...r, seq: undefined, email_verified: r.email_verified === 1, metadata: JSON.parse(r.metadata as string) });

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function authorized(req: IncomingMessage, scope: string): boolean {
  const match = /^Bearer rk_([a-z0-9]{12})_[A-Za-z0-9_-]{43}$/.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const key = findKey.get(`key_${match[1]}`) as { secret_hash: string; scopes: string; revoked_at: string | null } | undefined;
  if (!key || key.revoked_at !== null) return false;
  const given = createHash('sha256').update(req.headers.authorization!.slice(7)).digest();
  if (!timingSafeEqual(given, Buffer.from(key.secret_hash, 'hex'))) return false;
  const scopes = key.scopes.split(' ');
  return scopes.includes(scope) || scopes.includes('admin') || (scope === 'read' && scopes.includes('write'));
}

function readBody(req: IncomingMessage): Promise<Row | null> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(text) as Row);
      } catch {
        resolve(null);
      }
    });
  });
}

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const one = /^\/v1\/users\/([^/]{1,64})$/.exec(url.pathname);
  const write = req.method === 'PATCH' || req.method === 'POST';
  if (!authorized(req, write ? 'write' : 'read')) return send(res, 401, { error: 'unauthorized', message: 'Invalid credential' });
  if (one && req.method === 'GET') {
    const row = findUser.get(one[1]) as Row | undefined;
    return row ? send(res, 200, wire(row)) : send(res, 404, { error: 'not_found', message: 'User not found' });
  }
  if (one && req.method === 'PATCH') {
    const body = await readBody(req);
    if (!body || typeof body.first_name !== 'string') return send(res, 400, { error: 'validation_error', message: 'Invalid request parameters' });
    const [row] = updateName.all(body.first_name, body.first_name.toLowerCase(), now(), one[1]) as Row[];
    return row ? send(res, 200, wire(row)) : send(res, 404, { error: 'not_found', message: 'User not found' });
  }
  if (url.pathname === '/v1/users' && req.method === 'GET') {
    const cursor = url.searchParams.get('cursor');
    const after = cursor ? Number(Buffer.from(cursor, 'base64url').toString().slice(3)) : 0;
    const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20));
    const rows = listUsers.all(after, limit + 1) as Row[];
    const data = rows.slice(0, limit);
    const more = rows.length > limit;
    const next = more ? Buffer.from(`u1:${data[limit - 1].seq}`).toString('base64url') : null;
    return send(res, 200, { data: data.map(wire), has_more: more, next_cursor: next });
  }
  if (url.pathname === '/v1/users' && req.method === 'POST') {
    const body = await readBody(req);
    if (!body || typeof body.email !== 'string' || typeof body.username !== 'string') {
      return send(res, 400, { error: 'validation_error', message: 'Invalid request parameters' });
    }
    const first = typeof body.first_name === 'string' ? body.first_name : null;
    const at = now();
    try {
      const id = `usr_${randomBytes(9).toString('hex').slice(0, 12)}`;
      const [row] = insertUser.all(id, body.email, body.email.toLowerCase(), body.username, body.username.toLowerCase(), first, first?.toLowerCase() ?? null, at, at) as Row[];
      return send(res, 201, wire(row));
    } catch {
      return send(res, 409, { error: 'conflict', message: 'Email already taken' });
    }
  }
  send(res, 404, { error: 'not_found', message: 'Not found' });
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => send(res, 500, { error: 'internal_error', message: 'Internal error' }));
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => db.close()));
