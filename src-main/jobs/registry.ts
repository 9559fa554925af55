/**
 * What the engine worker can do: long jobs (with progress and cancel) and
 * quick calls. Each entry is a thin adapter from a plain-data payload to an
 * engine function; the engine itself knows nothing about workers.
 */
import type { JobContext } from './protocol.js';

export type JobRunner = (payload: any, ctx: JobContext) => Promise<unknown>;
export type CallRunner = (args: any) => Promise<unknown>;

export const jobs: Record<string, JobRunner> = {};

export const calls: Record<string, CallRunner> = {};
