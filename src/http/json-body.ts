import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, validationError } from '../errors.js';
import { routeOf } from './route-of.js';

type Done = (err: Error | null, body?: unknown) => void;

/**
 * How request bodies are read: JSON only, in UTF-8 (RFC 8259) and unencoded; a PATCH may also be
 * labelled as what it is, a JSON Merge Patch (RFC 7396). What cannot be read faithfully is
 * refused rather than mended: bytes that are not UTF-8 would otherwise be decoded to U+FFFD and
 * stored so, and a compressed body would be read as if it were plain.
 */
export function registerJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('ignore', 'ignore');
  const reader = (mergePatch: boolean) => (request: FastifyRequest, body: Buffer, done: Done) => {
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      return done(new AppError('unsupported_media_type', 'Content-Encoding is not supported; send the body unencoded'));
    }
    if (mergePatch && request.method !== 'PATCH') return done(new AppError('unsupported_media_type', 'Content-Type must be application/json'));
    // Many clients label every request as JSON, bodiless ones too: only a route that takes a body needs one.
    if (body.length === 0) return routeOf(request).schema?.body ? done(validationError({ body: ['Must not be empty'] })) : done(null, undefined);
    if (!isUtf8(body)) return done(validationError({ body: ['Must be encoded in UTF-8'] }));
    parseJson(request, body.toString('utf8'), done);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, reader(false));
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'buffer' }, reader(true));
  // Fastify reads text/plain by default; this API takes JSON only, so such a body is a 415.
  app.removeContentTypeParser('text/plain');
}

/**
 * preValidation of a route that takes no body (it has no schema for one): none, or `{}`, is
 * fine; anything else is refused as any route refuses unknown fields, rather than ignored.
 */
export async function refuseUnexpectedBody(request: FastifyRequest): Promise<void> {
  const body = request.body;
  if (body === undefined) return;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw validationError({ body: ['Must be a JSON object'] });
  const fields = Object.keys(body);
  if (fields.length > 0) throw validationError(Object.fromEntries(fields.map((field) => [field, ['Unknown field']])));
}
