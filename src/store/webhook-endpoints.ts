import type { Kysely, Selectable } from 'kysely';
import type { Dialect } from './database.js';
import { insertionOrder } from './insertion-order.js';
import { perDialect, statement } from './statements.js';
import type { Tables } from './tables.js';

export interface StoredWebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Event types, or ['*'] for every type. */
  eventTypes: string[];
  secret: string;
  status: 'enabled' | 'failing';
  failingSince: string | null;
  createdAt: string;
}

function toEndpoint(row: Selectable<Tables['webhook_endpoints']>): StoredWebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types.split(' ').filter(Boolean),
    secret: row.secret,
    status: row.status === 'failing' ? 'failing' : 'enabled',
    failingSince: row.failing_since,
    createdAt: row.created_at,
  };
}

const liveSql = 'select * from "webhook_endpoints" where "deleted_at" is null';
/** Every change asks which endpoints subscribe to it (see statements.ts). */
const allLive = perDialect((dialect) => statement<Selectable<Tables['webhook_endpoints']>>(dialect, liveSql));

export function createWebhookEndpointStore(db: Kysely<Tables>, dialect: Dialect) {
  const live = () => db.selectFrom('webhook_endpoints').selectAll().where('deleted_at', 'is', null);
  return {
    async insert(endpoint: StoredWebhookEndpoint): Promise<void> {
      await db
        .insertInto('webhook_endpoints')
        .values({
          id: endpoint.id,
          url: endpoint.url,
          description: endpoint.description,
          event_types: endpoint.eventTypes.join(' '),
          secret: endpoint.secret,
          status: endpoint.status,
          failing_since: endpoint.failingSince,
          created_at: endpoint.createdAt,
        })
        .execute();
    },

    async findById(id: string): Promise<StoredWebhookEndpoint | undefined> {
      const row = await live().where('id', '=', id).executeTakeFirst();
      return row && toEndpoint(row);
    },

    async list(): Promise<StoredWebhookEndpoint[]> {
      const rows = await live().orderBy('created_at').orderBy(insertionOrder(dialect)).execute();
      return rows.map(toEndpoint);
    },

    /** The live endpoints that subscribe to `type` (explicitly or with `*`). */
    async subscribedTo(type: string): Promise<StoredWebhookEndpoint[]> {
      const rows = await allLive[dialect].run(db, []);
      return rows.map(toEndpoint).filter((e) => e.eventTypes.includes('*') || e.eventTypes.includes(type));
    },

    /** Soft delete: its deliveries stop, and the id answers 404 from now on. */
    async markDeleted(id: string, at: string): Promise<boolean> {
      const result = await db.updateTable('webhook_endpoints').set({ deleted_at: at }).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    async markFailing(id: string, at: string): Promise<void> {
      await db.updateTable('webhook_endpoints').set({ status: 'failing', failing_since: at }).where('id', '=', id).where('status', '<>', 'failing').execute();
    },

    async markEnabled(id: string): Promise<void> {
      await db.updateTable('webhook_endpoints').set({ status: 'enabled', failing_since: null }).where('id', '=', id).where('status', '<>', 'enabled').execute();
    },
  };
}

export type WebhookEndpointStore = ReturnType<typeof createWebhookEndpointStore>;
