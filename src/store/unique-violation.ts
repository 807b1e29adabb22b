/**
 * The name of the unique index a database error violated, or null for any other error.
 * SQLite names the columns ("UNIQUE constraint failed: users.email_key"); PostgreSQL names the
 * index (constraint "users_email_key"). Both map to the index name used in the migrations.
 */
export function uniqueViolation(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const e = err as { code?: string; constraint?: string; message?: string };
  if (e.code === '23505') return e.constraint ?? 'unknown';
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const match = /failed: ([\w.]+)/.exec(e.message ?? '');
    return match ? match[1].replace('.', '_') : 'unknown';
  }
  return null;
}
