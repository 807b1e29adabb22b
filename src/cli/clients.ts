import { CreateOAuthClientBody } from '../schemas/oauth-clients.js';
import { UsageError, checkAgainst, parseCommand, withExistingRuntime, withRuntime } from './args.js';
import { parseScopes, print } from './keys.js';

export const clientsUsage = `roster clients create --name NAME --scopes read,write[,admin] [--json]
roster clients list [--json]
roster clients revoke CLIENT_ID
roster signing-keys list [--json]
roster signing-keys rotate [--json]
roster signing-keys prune
roster signing-keys remove KID`;

/** `roster clients …`: OAuth clients of the client-credentials grant, against the database, never through HTTP. */
export async function clientsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'create') {
    const { values, config } = parseCommand(rest, { name: { type: 'string' }, scopes: { type: 'string' }, json: { type: 'boolean' } });
    const name = values.name;
    if (typeof name !== 'string' || name.length === 0 || name.length > 100) throw new UsageError('--name is required (1 to 100 characters)');
    const scopes = parseScopes(values.scopes as string | undefined);
    checkAgainst(CreateOAuthClientBody, { name, scopes }, { name: '--name', scopes: '--scopes' });
    return withRuntime(config, async (runtime) => {
      const client = await runtime.services.oauthClients.create({ name, scopes });
      print(
        values.json === true,
        client,
        `Created OAuth client ${client.client_id} "${client.name}" (scopes: ${client.scopes.join(', ')}).\n` +
          `Client secret, shown this once; store it now:\n${client.client_secret}\n` +
          `Get a token: POST ${config.publicUrl}/oauth/token with grant_type=client_credentials.`,
      );
      return 0;
    });
  }
  if (sub === 'list') {
    const { values, config } = parseCommand(rest, { json: { type: 'boolean' } });
    return withExistingRuntime(config, async (runtime) => {
      const clients = await runtime.services.oauthClients.list();
      const lines = clients.map((c) => `${c.client_id}  ${c.name}  ${c.scopes.join(',')}  created ${c.created_at}  last used ${c.last_used_at ?? 'never'}`);
      print(values.json === true, { data: clients }, lines.length > 0 ? lines.join('\n') : 'No OAuth clients.');
      return 0;
    });
  }
  if (sub === 'revoke') {
    const { positionals, config } = parseCommand(rest, {}, 1);
    const id = positionals[0];
    if (!id) throw new UsageError('usage: roster clients revoke CLIENT_ID');
    return withExistingRuntime(config, async (runtime) => {
      await runtime.services.oauthClients.revoke(id);
      process.stdout.write(`Revoked ${id}: its tokens stop working within 5 seconds.\n`);
      return 0;
    });
  }
  throw new UsageError(clientsUsage);
}

/** `roster signing-keys …`: the keys that sign access tokens. */
export async function signingKeysCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const own: { json?: { type: 'boolean' } } = sub === 'list' || sub === 'rotate' ? { json: { type: 'boolean' } } : {};
  if (!['list', 'rotate', 'prune', 'remove'].includes(sub ?? '')) throw new UsageError(clientsUsage);
  const { values, positionals, config } = parseCommand(rest, own as { json: { type: 'boolean' } }, sub === 'remove' ? 1 : 0);
  return withExistingRuntime(config, async (runtime) => {
    const keys = runtime.services.signingKeys;
    if (sub === 'list') {
      const list = await keys.list();
      const lines = list.map((k) => `${k.kid}  ${k.algorithm}  ${k.status}  created ${k.created_at}${k.publish_until ? `  published until ${k.publish_until}` : ''}`);
      print(values.json === true, { data: list }, lines.length > 0 ? lines.join('\n') : 'No signing keys yet (one is made with the first token).');
    } else if (sub === 'rotate') {
      const key = await keys.rotate();
      const pruned = await keys.prune();
      print(
        values.json === true,
        { ...key, pruned },
        `New current signing key ${key.kid}; the previous ones stay published until their tokens expire.` + (pruned.length ? `\nPruned: ${pruned.join(', ')}` : ''),
      );
    } else if (sub === 'prune') {
      const pruned = await keys.prune();
      process.stdout.write(pruned.length ? `Pruned: ${pruned.join(', ')}\n` : 'Nothing to prune.\n');
    } else {
      const kid = positionals[0];
      if (!kid) throw new UsageError('usage: roster signing-keys remove KID');
      await keys.remove(kid);
      process.stdout.write(`Removed ${kid}: every token it signed stops working within 5 seconds.\n`);
    }
    return 0;
  });
}
