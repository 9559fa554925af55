/**
 * The boundary every host goes through: look the method up in the contract,
 * validate the input with its schema, run the handler, and wrap the outcome
 * in the one envelope both transports carry. Nothing past this point sees
 * unvalidated input.
 */
import { z } from 'zod';
import { methods, type ApiErrorShape, type MethodName, type MethodOutput, type Methods } from './contract.js';
import type { CallResult } from './wire.js';

export type Handlers = {
  [M in MethodName]: (input: z.infer<Methods[M]['input']>) => Promise<MethodOutput<M>> | MethodOutput<M>;
};

/** An error a handler means the user to read; its code travels to the renderer. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorShape['code'],
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function isMethodName(name: string): name is MethodName {
  return Object.prototype.hasOwnProperty.call(methods, name);
}

/** One readable line per problem, e.g. `config.weights.bits: bits must be between 2 and 16`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : 'input';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

export interface DispatchOptions {
  /** Check outputs against the contract too (tests turn this on). */
  validateOutputs?: boolean;
}

export async function dispatch(handlers: Handlers, method: string, rawInput: unknown, opts: DispatchOptions = {}): Promise<CallResult> {
  if (typeof method !== 'string' || !isMethodName(method)) {
    return failure('unknown_method', `unknown API method "${String(method)}"`);
  }
  const schema = methods[method];
  const parsed = schema.input.safeParse(rawInput ?? {});
  if (!parsed.success) {
    return failure('invalid_input', `${method}: ${describeZodError(parsed.error)}`);
  }
  try {
    const handler = handlers[method] as (input: unknown) => unknown;
    const output = await handler(parsed.data);
    if (opts.validateOutputs) {
      const checked = schema.output.safeParse(output);
      if (!checked.success) return failure('failed', `${method} returned data outside the contract: ${describeZodError(checked.error)}`);
    }
    return { ok: true, output };
  } catch (err) {
    if (err instanceof ApiError) return failure(err.code, err.message);
    return failure('failed', `${method}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function failure(code: ApiErrorShape['code'], message: string): CallResult {
  return { ok: false, error: { code, message } };
}
