import { z } from 'zod';
import { manifestSchema } from './manifest-schema.js';

/** The JSON Schema of berth.yaml, generated from the same zod schema that validates it. */
export function manifestJsonSchema(): string {
  const schema = z.toJSONSchema(manifestSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return JSON.stringify({ title: 'berth.yaml', ...schema }, null, 2) + '\n';
}
