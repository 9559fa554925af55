/**
 * What crosses a host boundary. Both hosts answer a call with the same
 * envelope, so the renderer's client unwraps one shape whatever carries it.
 *
 * Electron: the preload exposes `window.studio` (see StudioBridge); each
 * method is one function that resolves to a CallResult.
 * Web host: a WebSocket at ws://127.0.0.1:PORT/api carrying ClientMessage /
 * ServerMessage as JSON; the token travels in an HttpOnly cookie set when the
 * page was opened with ?token=…, so the renderer never handles it.
 */
import type { ApiErrorShape, EventName, MethodName } from './contract.js';

export type CallResult = { ok: true; output: unknown } | { ok: false; error: ApiErrorShape };

export type ClientMessage = { type: 'call'; id: number; method: string; input: unknown };

export type ServerMessage =
  | ({ type: 'result'; id: number } & CallResult)
  | { type: 'event'; event: EventName; payload: unknown };

/** Shape of `window.studio` in the Electron renderer. */
export interface StudioBridge {
  host: 'electron';
  methods: Record<MethodName, (input: unknown) => Promise<CallResult>>;
  /** Subscribe to every pushed event; returns an unsubscribe function. */
  onEvent(listener: (event: EventName, payload: unknown) => void): () => void;
}

export const IPC_CALL_PREFIX = 'studio:call:';
export const IPC_EVENT_CHANNEL = 'studio:event';
export const WEB_TOKEN_COOKIE = 'studio_token';
export const WEB_API_PATH = '/api';
