import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestJsonSchema } from './json-schema.js';

/** `npm run schema`: regenerates schema/berth.schema.json from the zod schema. */
const target = path.resolve(fileURLToPath(new URL('../../../schema/berth.schema.json', import.meta.url)));
writeFileSync(target, manifestJsonSchema());
console.log(`wrote ${target}`);
