import type { NextFunction, Request, Response } from 'express';
import Ajv, { type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';

/** An error with an HTTP status, answered as `{error: {type, message, details, extra_info}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly details = '',
  ) {
    super(message);
  }
}

export function errorBody(
  type: string,
  message: string,
  details = '',
  extra_info: Record<string, unknown> = {},
) {
  return { error: { type, message, details, extra_info } };
}

/** Last middleware: whatever went wrong becomes a JSON answer, never a crash or an HTML page. */
export function errorHandler(log: { error(m: string): void }) {
  return (err: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      res.status(err.status).json(errorBody(err.type, err.message, err.details, err.extra));
      return;
    }
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    // body-parser's errors carry a status and a type.
    if (e?.type === 'entity.too.large') {
      res.status(413).json(errorBody('body_too_large', `request body is larger than ${e.limit} bytes`));
      return;
    }
    if (e?.type === 'entity.parse.failed') {
      res.status(400).json(errorBody('invalid_json', `request body is not valid JSON: ${e.message}`));
      return;
    }
    if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json(errorBody('bad_request', e.message ?? 'bad request'));
      return;
    }
    log.error(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    res.status(500).json(errorBody('internal_error', (err as Error)?.message ?? 'internal error'));
  };
}

const ajv = new Ajv({ allErrors: true, strict: false });

function describe(errors: ErrorObject[]): string {
  return errors
    .map((e) => {
      const at = 'body' + e.instancePath.replace(/\//g, '.');
      if (e.keyword === 'additionalProperties')
        return `${at}: unknown property '${e.params.additionalProperty}'`;
      if (e.keyword === 'required') return `${at}: missing required property '${e.params.missingProperty}'`;
      return `${at}: ${e.message}`;
    })
    .join('; ');
}

/** Compiles a body schema into a checker that throws a clear 400 naming each offending field. */
export function bodyChecker<T>(schema: JSONSchemaType<T> | Record<string, unknown>): (body: unknown) => T {
  const validate = ajv.compile(schema) as ValidateFunction<T>;
  return (body: unknown): T => {
    const value = body === undefined || body === null ? {} : body;
    if (!validate(value)) {
      const errors = validate.errors ?? [];
      throw new HttpError(400, 'invalid_request', `invalid request body: ${describe(errors)}`, {
        errors: errors.map((e) => ({ path: e.instancePath, message: e.message, params: e.params })),
      });
    }
    return value as T;
  };
}
