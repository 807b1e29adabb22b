import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, validationError } from '../errors.js';

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
    if (!isUtf8(body)) return done(validationError({ body: ['Must be encoded in UTF-8'] }));
    parseJson(request, body.toString('utf8'), done);
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, reader(false));
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'buffer' }, reader(true));
  // Fastify reads text/plain by default; this API takes JSON only, so such a body is a 415.
  app.removeContentTypeParser('text/plain');
}
