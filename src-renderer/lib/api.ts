/**
 * The renderer's one API client. Under Electron it calls the preload bridge
 * (`window.studio`); in a browser it talks to the web host over a WebSocket
 * at ws(s)://<page host>/api, whose access token is an HttpOnly cookie this
 * code never sees. Everything else in the renderer calls `api.call(...)` and
 * `api.on(...)` and does not know which host it runs under.
 *
 * The contract is imported as types only, so zod stays out of the bundle
 * (vite.config.ts fails the build if anything from src-main is bundled).
 */
import type { ApiErrorShape, EventName, EventPayload, MethodInput, MethodName, MethodOutput } from '../../src-main/api/contract.js';
import type { CallResult, StudioBridge } from '../../src-main/api/wire.js';
import { backoffDelay, describeClose, encodeCall, parseServerMessage, selectTransport, type BackoffOptions, type TransportChoice, DEFAULT_BACKOFF } from './data/protocol.js';

/** Host error codes, plus the client's own: the link is down, or there is no host at all. */
export type ApiErrorCode = ApiErrorShape['code'] | 'disconnected' | 'unavailable' | 'protocol';

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  /** The call that failed, when there was one. */
  readonly method: string | null;

  constructor(code: ApiErrorCode, message: string, method: string | null = null) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.method = method;
  }
}

/** Any thrown value as an ApiError, so the UI has one thing to show. */
export function toApiError(err: unknown, method: string | null = null): ApiError {
  if (err instanceof ApiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError('failed', method ? `${method}: ${message}` : message, method);
}

export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'unavailable';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Reconnect attempts since the link was last open. */
  attempt: number;
  /** While waiting to reconnect: when the next attempt starts (epoch ms). */
  retryAt: number | null;
  /** Why the link is not open, in words. */
  detail: string | null;
  /** How many times the link has opened; above 1 means events may have been missed meanwhile. */
  opens: number;
}

/** Which kind of host serves this renderer. */
export type HostKind = 'desktop' | 'browser' | 'none';

type RawEventListener = (event: EventName, payload: unknown) => void;
type StateListener = (state: ConnectionState) => void;

/** What ApiClient needs from a transport; `send` resolves to the envelope or rejects with an ApiError. */
export interface Transport {
  readonly host: HostKind;
  readonly state: ConnectionState;
  send(method: MethodName, input: unknown): Promise<CallResult>;
  onEvent(listener: RawEventListener): () => void;
  onState(listener: StateListener): () => void;
  /** Skip the backoff wait and try to connect now. */
  reconnectNow(): void;
  close(): void;
}

export class ApiClient {
  readonly host: HostKind;
  private readonly transport: Transport;
  private readonly listeners = new Map<EventName, Set<(payload: unknown) => void>>();

  constructor(transport: Transport) {
    this.transport = transport;
    this.host = transport.host;
    transport.onEvent((event, payload) => this.dispatch(event, payload));
  }

  /** Calls one API method; rejects with an ApiError carrying the host's code and message. */
  async call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>> {
    const result = await this.transport.send(method, input);
    if (result.ok) return result.output as MethodOutput<M>;
    throw new ApiError(result.error.code, result.error.message, method);
  }

  /** Listens to one pushed event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const wrapped = listener as (payload: unknown) => void;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }

  get connection(): ConnectionState {
    return this.transport.state;
  }

  /** Follows the connection state; the listener is called at once with the current one. */
  onConnection(listener: StateListener): () => void {
    listener(this.transport.state);
    return this.transport.onState(listener);
  }

  reconnectNow(): void {
    this.transport.reconnectNow();
  }

  close(): void {
    this.transport.close();
  }

  private dispatch(event: EventName, payload: unknown): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (err) {
        // One broken listener must not stop the others; it is still reported.
        console.error(`listener for "${event}" failed`, err);
      }
    }
  }
}

function isCallResult(value: unknown): value is CallResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.ok === true) return true;
  if (v.ok !== false || typeof v.error !== 'object' || v.error === null) return false;
  const e = v.error as Record<string, unknown>;
  return typeof e.code === 'string' && typeof e.message === 'string';
}

/**
 * A plain JSON copy of a call's input. Both hosts receive JSON-shaped input;
 * copying also turns Svelte state proxies into plain objects, which Electron's
 * structured clone would refuse.
 */
function plainInput(method: string, input: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(input ?? {})) as unknown;
  } catch (err) {
    throw new ApiError('invalid_input', `${method}: the input cannot be sent (${err instanceof Error ? err.message : String(err)})`, method);
  }
}

const OPEN_STATE: ConnectionState = { status: 'open', attempt: 0, retryAt: null, detail: null, opens: 1 };

/** Electron: each method is an IPC function on the preload bridge. The link is always up. */
export class BridgeTransport implements Transport {
  readonly host = 'desktop' as const;
  readonly state = OPEN_STATE;
  private readonly bridge: StudioBridge;

  constructor(bridge: StudioBridge) {
    this.bridge = bridge;
  }

  async send(method: MethodName, input: unknown): Promise<CallResult> {
    const fn = this.bridge.methods[method];
    if (typeof fn !== 'function') {
      throw new ApiError('unknown_method', `${method}: the desktop bridge has no such method (is the preload script out of date?)`, method);
    }
    let result: unknown;
    try {
      result = await fn(plainInput(method, input));
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw new ApiError('failed', `${method}: the desktop host did not answer (${err instanceof Error ? err.message : String(err)})`, method);
    }
    if (!isCallResult(result)) throw new ApiError('protocol', `${method}: the desktop host answered with something that is not a call result`, method);
    return result;
  }

  onEvent(listener: RawEventListener): () => void {
    return this.bridge.onEvent(listener);
  }

  onState(): () => void {
    return () => {};
  }

  reconnectNow(): void {}

  close(): void {}
}

/** No host to talk to (e.g. index.html opened from disk): every call fails with the reason. */
export class UnavailableTransport implements Transport {
  readonly host = 'none' as const;
  readonly state: ConnectionState;
  private readonly reason: string;

  constructor(reason: string) {
    this.reason = reason;
    this.state = { status: 'unavailable', attempt: 0, retryAt: null, detail: reason, opens: 0 };
  }

  send(method: MethodName): Promise<CallResult> {
    return Promise.reject(new ApiError('unavailable', `${method}: ${this.reason}`, method));
  }

  onEvent(): () => void {
    return () => {};
  }

  onState(): () => void {
    return () => {};
  }

  reconnectNow(): void {}

  close(): void {}
}

interface PendingCall {
  method: MethodName;
  resolve: (result: CallResult) => void;
  reject: (err: ApiError) => void;
}

interface QueuedCall extends PendingCall {
  id: number;
  input: unknown;
}

/** The minimum of the DOM WebSocket this transport uses, so tests can pass a fake. */
type SocketLike = Pick<WebSocket, 'readyState' | 'send' | 'close' | 'onopen' | 'onmessage' | 'onclose' | 'onerror'>;

export interface SocketTransportOptions {
  backoff?: BackoffOptions;
  createSocket?: (url: string) => SocketLike;
}

const SOCKET_OPEN = 1;

/**
 * Browser: one WebSocket to the web host. Calls made before it opens wait in
 * a queue; when it drops, every call still waiting (sent or queued) is
 * rejected with a `disconnected` ApiError and the socket reconnects with
 * exponential backoff (0.5 s doubling to 10 s, with jitter).
 */
export class SocketTransport implements Transport {
  readonly host = 'browser' as const;
  state: ConnectionState = { status: 'connecting', attempt: 0, retryAt: null, detail: null, opens: 0 };
  private readonly url: string;
  private readonly backoff: BackoffOptions;
  private readonly createSocket: (url: string) => SocketLike;
  private socket: SocketLike | null = null;
  private wasOpen = false;
  private nextId = 1;
  private readonly inFlight = new Map<number, PendingCall>();
  private queue: QueuedCall[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly eventListeners = new Set<RawEventListener>();
  private readonly stateListeners = new Set<StateListener>();

  constructor(url: string, opts: SocketTransportOptions = {}) {
    this.url = url;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.createSocket = opts.createSocket ?? ((u) => new WebSocket(u));
    this.connect();
  }

  send(method: MethodName, input: unknown): Promise<CallResult> {
    if (this.closed) return Promise.reject(new ApiError('disconnected', `${method}: the API client was closed`, method));
    return new Promise<CallResult>((resolve, reject) => {
      const call: QueuedCall = { id: this.nextId++, method, input, resolve, reject };
      if (this.socket !== null && this.socket.readyState === SOCKET_OPEN) this.write(call);
      else this.queue.push(call);
    });
  }

  onEvent(listener: RawEventListener): () => void {
    this.eventListeners.add(listener);
    return () => {
      this.eventListeners.delete(listener);
    };
  }

  onState(listener: StateListener): () => void {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  }

  reconnectNow(): void {
    if (this.closed || this.state.status === 'open' || this.state.status === 'connecting') return;
    this.connect();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearRetry();
    const socket = this.socket;
    this.socket = null;
    this.failAll('the API client was closed');
    socket?.close(1000, 'client closed');
    this.setState({ status: 'unavailable', attempt: 0, retryAt: null, detail: 'closed', opens: this.state.opens });
  }

  private connect(): void {
    this.clearRetry();
    if (this.state.status !== 'connecting') this.setState({ ...this.state, status: 'connecting', retryAt: null });
    this.wasOpen = false;
    let socket: SocketLike;
    try {
      socket = this.createSocket(this.url);
    } catch (err) {
      // A malformed URL or a CSP refusal throws synchronously.
      this.lost(`cannot open ${this.url}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.wasOpen = true;
      this.setState({ status: 'open', attempt: 0, retryAt: null, detail: null, opens: this.state.opens + 1 });
      const queued = this.queue;
      this.queue = [];
      for (const call of queued) this.write(call);
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (this.socket === socket) this.receive(ev.data);
    };
    // Browsers give no detail on errors; the close event that follows carries the code.
    socket.onerror = () => {};
    socket.onclose = (ev: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.lost(describeClose(ev.code, ev.reason, this.wasOpen));
    };
  }

  private lost(detail: string): void {
    this.failAll(detail);
    if (this.closed) return;
    const attempt = this.state.attempt + 1;
    const delay = backoffDelay(attempt, this.backoff);
    this.setState({ status: 'reconnecting', attempt, retryAt: Date.now() + delay, detail, opens: this.state.opens });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private write(call: QueuedCall): void {
    let text: string;
    try {
      text = encodeCall(call.id, call.method, call.input);
    } catch (err) {
      call.reject(new ApiError('invalid_input', `${call.method}: the input cannot be sent (${err instanceof Error ? err.message : String(err)})`, call.method));
      return;
    }
    const socket = this.socket;
    if (socket === null) {
      this.queue.push(call);
      return;
    }
    this.inFlight.set(call.id, call);
    try {
      socket.send(text);
    } catch (err) {
      this.inFlight.delete(call.id);
      call.reject(new ApiError('disconnected', `${call.method}: could not send (${err instanceof Error ? err.message : String(err)})`, call.method));
    }
  }

  private receive(raw: unknown): void {
    const message = parseServerMessage(raw);
    switch (message.type) {
      case 'result': {
        const call = this.inFlight.get(message.id);
        if (!call) {
          // id -1: the host could not read a call at all; anything else is a stray answer.
          console.error(`studio host: result for unknown call ${message.id}`, message.result);
          return;
        }
        this.inFlight.delete(message.id);
        call.resolve(message.result);
        return;
      }
      case 'event':
        for (const listener of [...this.eventListeners]) listener(message.event, message.payload);
        return;
      case 'invalid':
        console.error(`studio host sent an unreadable message: ${message.reason}`);
    }
  }

  private failAll(detail: string): void {
    const inFlight = [...this.inFlight.values()];
    this.inFlight.clear();
    const queued = this.queue;
    this.queue = [];
    for (const call of inFlight) {
      call.reject(new ApiError('disconnected', `${call.method} got no answer: ${detail}. It may or may not have been carried out; check once reconnected.`, call.method));
    }
    for (const call of queued) {
      call.reject(new ApiError('disconnected', `${call.method} was not sent: ${detail}.`, call.method));
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch (err) {
        console.error('connection state listener failed', err);
      }
    }
  }
}

/** Builds the transport a TransportChoice names. */
export function createTransport(choice: TransportChoice, opts: SocketTransportOptions = {}): Transport {
  switch (choice.kind) {
    case 'bridge':
      return new BridgeTransport(choice.bridge);
    case 'socket':
      return new SocketTransport(choice.url, opts);
    case 'none':
      return new UnavailableTransport(choice.reason);
  }
}

/** Reads the page: the preload bridge if Electron put one there, and the page's location. */
export function pageTransportChoice(): TransportChoice {
  return selectTransport({ studio: (window as { studio?: unknown }).studio, location: window.location });
}

let shared: ApiClient | null = null;

/** The renderer's one client, created (and, in a browser, connected) on first use. */
export function getApi(): ApiClient {
  if (shared === null) {
    const transport = createTransport(pageTransportChoice());
    shared = new ApiClient(transport);
    if (transport instanceof SocketTransport) {
      // Back online or back to the tab: no need to sit out the backoff.
      window.addEventListener('online', () => transport.reconnectNow());
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') transport.reconnectNow();
      });
    }
  }
  return shared;
}
