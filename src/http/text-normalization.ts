import type { FastifyRequest } from 'fastify';

/**
 * preValidation: body text is put in the form it is stored or compared in before the schema
 * checks it, so that its length limits count that form. Names and emails are stored NFC
 * (API.md §2): a name typed as decomposed characters (as macOS may send it) is as long as the one
 * stored. A password is hashed NFKC (NIST SP 800-63B), where `e` + U+0301 is one character: four
 * such pairs are a password of 4, not 8.
 */
export function normalizeBody(fields: { nfc?: readonly string[]; nfkc?: readonly string[] }) {
  return async (request: FastifyRequest): Promise<void> => {
    const body = request.body as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null) return;
    for (const [form, names] of [['NFC', fields.nfc ?? []], ['NFKC', fields.nfkc ?? []]] as const) {
      for (const field of names) {
        const value = body[field];
        if (typeof value === 'string') body[field] = value.normalize(form);
      }
    }
  };
}
