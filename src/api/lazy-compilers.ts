import { createRequire } from 'node:module';

/** A request validator as Fastify calls it; Ajv's functions carry their last `errors`. */
type Validator = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown; schemaEnv?: unknown };
type Serializer = (data: unknown) => string;
type Compile<T> = (route: { schema: unknown }) => T;
type Build<T> = (externalSchemas: unknown, options: unknown) => Compile<T>;

// Fastify's own compilers (its dependencies, so resolved from where fastify is).
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));

/**
 * Fastify's compilers (Ajv for request schemas, fast-json-stringify for response schemas),
 * loaded and run for a route only when a request first needs it. By default Fastify loads
 * Ajv and compiles every route's schemas when the server gets ready: at berthd's start, about
 * 140 ms of CPU and a few MiB of heap for routes most runs never call. Validation itself is
 * unchanged: the same compilers, the same options, the same errors.
 */
export const lazyCompilers = {
  buildValidator(externalSchemas: unknown, options: unknown): Compile<Validator> {
    let compile: Compile<Validator> | undefined;
    return (route) => {
      let compiled: Validator | undefined;
      const validate: Validator = (data, context) => {
        compile ??= (fastifyRequire('@fastify/ajv-compiler') as () => Build<Validator>)()(externalSchemas, options);
        compiled ??= compile(route);
        const valid = compiled(data, context);
        validate.errors = compiled.errors;
        return valid;
      };
      // Ajv's functions have a schemaEnv: Fastify then passes the request as parent, so a root value can be coerced.
      validate.schemaEnv = true;
      return validate;
    };
  },
  buildSerializer(externalSchemas: unknown, options: unknown): Compile<Serializer> {
    let compile: Compile<Serializer> | undefined;
    return (route) => {
      let compiled: Serializer | undefined;
      return (data) => {
        compile ??= (fastifyRequire('@fastify/fast-json-stringify-compiler') as () => Build<Serializer>)()(
          externalSchemas,
          options,
        );
        compiled ??= compile(route);
        return compiled(data);
      };
    };
  },
};
