/**
 * The pure half of the renderer's API client: which transport to use, where
 * the WebSocket lives, how long to wait before reconnecting, and how to read
 * a message from the web host. No DOM and no Svelte here, so the Node
 * tsconfig compiles it and node:test covers it; `lib/api.ts` does the I/O.
 */
import type { ApiErrorShape, EventName, MethodName } from '../../../src-main/api/contract.js';
import type { CallResult, ClientMessage, StudioBridge } from '../../../src-main/api/wire.js';

/** Path of the web host's API socket (mirrors WEB_API_PATH in wire.ts, which is not imported at runtime). */
export const API_SOCKET_PATH = '/api';

/** What the renderer can see of the page it runs in. */
export interface TransportEnv {
  /** `window.studio`, whatever it is. */
  studio: unknown;
  location: { protocol: string; host: string };
}

export type TransportChoice =
  | { kind: 'bridge'; bridge: StudioBridge }
  | { kind: 'socket'; url: string }
  | { kind: 'none'; reason: string };

/**
 * Electron's preload bridge when the page has one, else the web host's
 * WebSocket on the page's own origin. A page opened from file:// without the
 * bridge has no host to talk to.
 */
export function selectTransport(env: TransportEnv): TransportChoice {
  if (isStudioBridge(env.studio)) return { kind: 'bridge', bridge: env.studio };
  const { protocol, host } = env.location;
  if ((protocol === 'http:' || protocol === 'https:') && host !== '') {
    return { kind: 'socket', url: apiSocketUrl(env.location) };
  }
  return {
    kind: 'none',
    reason:
      env.studio !== undefined
        ? 'window.studio is present but is not the studio bridge (expected host "electron", methods and onEvent).'
        : `The page was opened from ${protocol}// without the desktop app; start the studio with \`npm start\` and open the URL it prints.`,
  };
}

/** ws://host/api for an http page, wss://host/api for an https one. */
export function apiSocketUrl(location: { protocol: string; host: string }): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${API_SOCKET_PATH}`;
}

export function isStudioBridge(value: unknown): value is StudioBridge {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<StudioBridge>;
  return v.host === 'electron' && typeof v.methods === 'object' && v.methods !== null && typeof v.onEvent === 'function';
}

export interface BackoffOptions {
  /** First delay, ms. */
  baseMs: number;
  /** Longest delay, ms. */
  maxMs: number;
  /** 0..1: how much of the delay is random, so many tabs do not reconnect in step. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 10_000, jitter: 0.2 };

/**
 * Delay before reconnect attempt `attempt` (1 = first retry): doubles from
 * baseMs up to maxMs, then up to `jitter` of it is taken off at random.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  const full = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(n - 1, 30));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(full * (1 - opts.jitter * r));
}

/** A message from the web host, checked enough to be routed safely. */
export type ParsedServerMessage =
  | { type: 'result'; id: number; result: CallResult }
  | { type: 'event'; event: EventName; payload: unknown }
  | { type: 'invalid'; reason: string };

const ERROR_CODES: ReadonlySet<string> = new Set<ApiErrorShape['code']>(['unknown_method', 'invalid_input', 'not_found', 'conflict', 'failed']);

/** Reads one WebSocket text frame; never throws. */
export function parseServerMessage(raw: unknown): ParsedServerMessage {
  if (typeof raw !== 'string') return { type: 'invalid', reason: 'binary frame (expected JSON text)' };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { type: 'invalid', reason: 'frame is not JSON' };
  }
  if (typeof data !== 'object' || data === null) return { type: 'invalid', reason: 'frame is not an object' };
  const m = data as Record<string, unknown>;
  if (m.type === 'event') {
    if (typeof m.event !== 'string' || m.event === '') return { type: 'invalid', reason: 'event without a name' };
    return { type: 'event', event: m.event as EventName, payload: m.payload };
  }
  if (m.type === 'result') {
    if (typeof m.id !== 'number' || !Number.isInteger(m.id)) return { type: 'invalid', reason: 'result without a numeric id' };
    if (m.ok === true) return { type: 'result', id: m.id, result: { ok: true, output: m.output } };
    if (m.ok === false) return { type: 'result', id: m.id, result: { ok: false, error: readError(m.error) } };
    return { type: 'invalid', reason: `result ${m.id} has no ok flag` };
  }
  return { type: 'invalid', reason: `unknown message type ${JSON.stringify(m.type)}` };
}

function readError(value: unknown): ApiErrorShape {
  if (typeof value === 'object' && value !== null) {
    const e = value as Record<string, unknown>;
    const code = typeof e.code === 'string' && ERROR_CODES.has(e.code) ? (e.code as ApiErrorShape['code']) : 'failed';
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : 'the host reported an error without a message';
    return { code, message };
  }
  return { code: 'failed', message: 'the host reported an error without details' };
}

/** The JSON text of one call, as the web host expects it. */
export function encodeCall(id: number, method: MethodName, input: unknown): string {
  return JSON.stringify({ type: 'call', id, method, input: input ?? {} } satisfies ClientMessage);
}

/**
 * Why the socket closed, in words for the status bar and for the calls it
 * takes down. Browsers hide handshake failures behind code 1006, so a socket
 * that never opened gets the likely causes spelled out.
 */
export function describeClose(code: number, reason: string, wasOpen: boolean): string {
  const why = reason.trim() !== '' ? `: ${reason.trim()}` : '';
  if (!wasOpen) {
    return `could not reach the studio host (code ${code}${why}); is it still running? If it restarted, open the URL it printed again (the access token changes on every start)`;
  }
  switch (code) {
    case 1000:
      return `the studio host closed the connection${why}`;
    case 1001:
      return `the studio host is shutting down (code 1001${why})`;
    case 1006:
      return `the connection to the studio host was lost (code 1006${why})`;
    case 1008:
      return `the studio host refused the connection (code 1008${why})`;
    case 1009:
      return `a message was too large for the studio host (code 1009${why})`;
    default:
      return `the connection to the studio host closed (code ${code}${why})`;
  }
}
