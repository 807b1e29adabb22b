import type { FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import Type from 'typebox';
import { validationError } from '../errors.js';
import { errorResponses } from '../schemas/common.js';
import { User } from '../schemas/users.js';
import type { IdempotencyService } from '../services/idempotency.js';
import { partitionOf } from '../services/auth.js';
import { routeOf } from './route-of.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * false on routes whose response holds a secret shown once (API keys and OAuth clients, whose
     * secrets are stored only hashed; webhook endpoints): a response kept for replay would keep the
     * secret, in clear, and show it again. Such routes refuse the header.
     */
    idempotency?: false;
  }
  interface FastifyRequest {
    idempotencyClaim?: { principalId: string; key: string };
  }
}

/** The headers that are part of the answer, replayed with it; request id and rate limits are fresh. */
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'];

const IdempotencyKeyHeader = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      // Printable ASCII without spaces, as Stripe's keys and UUIDs are.
      pattern: '^[\\x21-\\x7e]*$',
      'x-error-message': 'Must be printable ASCII characters without spaces',
      description: 'Makes a retry safe: within 24 hours the same key with the same request answers the first response again (`Idempotent-Replayed: true`) instead of acting twice; with another request, 422.',
      examples: ['9f1c2d1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f'],
    }),
  ),
});

/**
 * A POST or PATCH route's schema with what `Idempotency-Key` adds to it: the header (whose form
 * this schema checks, with the rest of the request), the 409 of a request still in flight under
 * the key and the 422 of a key reused.
 */
export function withIdempotencyKey(schema: FastifySchema | undefined): FastifySchema {
  const errors = errorResponses([409, 422]);
  return {
    ...schema,
    headers: schema?.headers ?? IdempotencyKeyHeader,
    response: { 409: errors[409], ...(schema?.response as object | undefined), 422: errors[422] },
  };
}

/**
 * The id of the user a response's body is, by the route's schema for its status (a created or
 * updated user), so that deleting the user erases it in the kept copy too; null for other bodies.
 */
function userIn(request: FastifyRequest, status: number, body: string | null): string | null {
  const schemas = routeOf(request).schema?.response as Record<string, unknown> | undefined;
  if (body === null || schemas?.[status] !== User) return null;
  return (JSON.parse(body) as { id: string }).id;
}

/**
 * `Idempotency-Key` on POST and PATCH (API.md §3). preHandler: after authentication and
 * validation (an invalid request is answered, not remembered), before the handler, the key is
 * claimed with a unique row, or the request is answered from the first one. onSend: the response
 * is kept for 24 hours.
 */
export function idempotency(service: IdempotencyService) {
  return {
    async preHandler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      if (request.method !== 'POST' && request.method !== 'PATCH') return undefined;
      const key = request.headers['idempotency-key'];
      if (key === undefined || !request.principal) return undefined;
      if (routeOf(request).config.idempotency === false) {
        throw validationError({ 'Idempotency-Key': ['Not supported on this endpoint: its response holds a secret that is shown once'] });
      }
      // Its form was checked with the rest of the request (IdempotencyKeyHeader).
      if (typeof key !== 'string') return undefined;
      const principalId = partitionOf(request.principal);
      const result = await service.begin(principalId, key, await service.fingerprint(principalId, key, request.method, request.url, request.body ?? null));
      if (result.kind === 'claimed') {
        request.idempotencyClaim = { principalId, key };
        return undefined;
      }
      const { status, headers, body } = result.response;
      reply.code(status).headers(headers).header('idempotent-replayed', 'true');
      // Returning the reply ends the request here: the handler does not run again.
      return reply.send(body);
    },

    async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
      const claim = request.idempotencyClaim;
      if (!claim) return payload;
      request.idempotencyClaim = undefined;
      const headers: Record<string, string> = {};
      for (const name of REPLAYED_HEADERS) {
        const value = reply.getHeader(name);
        if (value !== undefined) headers[name] = String(value);
      }
      const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : null;
      try {
        await service.finish(claim.principalId, claim.key, { status: reply.statusCode, headers, body }, userIn(request, reply.statusCode, body));
      } catch (err) {
        // The response still goes out; the key stays in flight until its lock lapses.
        request.log.warn({ err }, 'idempotency record not saved');
      }
      return payload;
    },
  };
}
