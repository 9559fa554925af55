/**
 * The web host: the same renderer and the same API as the desktop app, served
 * to a browser on 127.0.0.1 only. A random token is required on every request:
 * the printed URL carries it once, the server turns it into an HttpOnly,
 * SameSite=Strict cookie and redirects to a clean URL; the API WebSocket then
 * also checks that the page's Origin is this server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { dispatch, type Handlers } from '../../api/dispatch.js';
import type { EventBus } from '../../api/events.js';
import { WEB_API_PATH, WEB_TOKEN_COOKIE, type ClientMessage, type ServerMessage } from '../../api/wire.js';
import { serveStatic } from './static-files.js';
import { handleUpload, UPLOAD_PATH } from './upload.js';
import { confineImports } from './import-policy.js';
import { EXPORT_DOWNLOAD_PATTERN, handleExportDownload } from './export-download.js';
import path from 'node:path';
import { cookieValue, newToken, tokensEqual } from './token.js';

export interface WebHostOptions {
  handlers: Handlers;
  events: EventBus;
  /** Folder of the built renderer (dist/renderer). */
  rendererDir: string;
  /** 0 picks a free port. */
  port?: number;
  token?: string;
  /** Where POST /api/upload writes dropped files (imports/ in the user data folder); without it uploads are refused. */
  importsDir?: string;
  /** Other folders models.import / datasets.import may read (`studio serve --import-dir`); imports are confined to these and importsDir. */
  importDirs?: string[];
  /** Largest upload in bytes (`studio serve --upload-limit`); default: upload.ts uploadLimitFor (4 GiB, less when the disk has less free). */
  uploadLimit?: number;
}

export interface WebHost {
  url: string;
  /** The URL to open, with the token. */
  openUrl: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port ${port} on 127.0.0.1 is already in use; start with --port <other> or --port 0 for any free port`);
    this.name = 'PortInUseError';
  }
}

const HOST = '127.0.0.1';

/** The renderer's CSP (as in src-renderer/index.html), sent as a header too: frame-ancestors only works there. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * The Host header must name this server (127.0.0.1 or localhost with its
 * port): a DNS-rebinding page reaches 127.0.0.1 under its own name.
 */
export function hostAllowed(host: string | undefined, port: number): boolean {
  return host === `${HOST}:${port}` || host === `localhost:${port}`;
}

export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const token = opts.token ?? newToken();
  const uploadLimit = opts.uploadLimit;
  const importFolders = [...(opts.importsDir ? [opts.importsDir] : []), ...(opts.importDirs ?? [])].map((d) => path.resolve(d));
  const handlers = confineImports(opts.handlers, importFolders);
  const server = createServer((req, res) => handleHttp(req, res, token, opts.rendererDir, opts.importsDir, uploadLimit, handlers));
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => handleUpgrade(req, socket, head, token, server, sockets));
  sockets.on('connection', (ws) => serveSocket(ws, handlers));
  const unsubscribe = opts.events.subscribe((event, payload) => {
    const message = JSON.stringify({ type: 'event', event, payload } satisfies ServerMessage);
    for (const client of sockets.clients) if (client.readyState === client.OPEN) client.send(message);
  });

  const port = await listen(server, opts.port ?? 0);
  const url = `http://${HOST}:${port}/`;
  return {
    url,
    openUrl: `${url}?token=${token}`,
    port,
    token,
    close: async () => {
      unsubscribe();
      for (const client of sockets.clients) client.terminate();
      sockets.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : new Error(`cannot listen on ${HOST}:${port}: ${err.message}`));
    };
    server.once('error', onError);
    server.listen(port, HOST, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function requestToken(req: IncomingMessage): { fromQuery: string | null; fromCookie: string | null } {
  const url = new URL(req.url ?? '/', `http://${HOST}`);
  return { fromQuery: url.searchParams.get('token'), fromCookie: cookieValue(req.headers.cookie, WEB_TOKEN_COOKIE) };
}

function handleHttp(req: IncomingMessage, res: ServerResponse, token: string, rendererDir: string, importsDir: string | undefined, uploadLimit: number | undefined, handlers: Handlers): void {
  const url = new URL(req.url ?? '/', `http://${HOST}`);
  if (!hostAllowed(req.headers.host, req.socket.localPort ?? 0)) {
    res.writeHead(421, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
    res.end(`Quantization Studio: this server answers only to 127.0.0.1:${req.socket.localPort} or localhost:${req.socket.localPort}, not to Host ${JSON.stringify(req.headers.host ?? '')}\n`);
    req.resume();
    return;
  }
  const { fromQuery, fromCookie } = requestToken(req);
  const upload = req.method === 'POST' && url.pathname === UPLOAD_PATH && importsDir !== undefined;
  if (req.method !== 'GET' && req.method !== 'HEAD' && !upload) {
    res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD' });
    res.end();
    return;
  }
  if (fromQuery !== null && tokensEqual(token, fromQuery)) {
    // Trade the URL token for a cookie, and drop it from the address bar and history.
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      'Set-Cookie': `${WEB_TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
      Location: url.pathname,
    });
    res.end();
    return;
  }
  if (!tokensEqual(token, fromCookie)) {
    res.writeHead(401, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(
      fromQuery !== null
        ? 'Quantization Studio: wrong token. Open the URL printed by `npm start` (it ends with ?token=…).\n'
        : 'Quantization Studio: missing token. Open the URL printed by `npm start` (it ends with ?token=…).\n',
    );
    return;
  }
  if (upload) {
    // Only this page may upload (the cookie is SameSite=Strict too).
    const port = req.socket.localPort;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${HOST}:${port}` && origin !== `http://localhost:${port}`) {
      res.writeHead(403, { ...SECURITY_HEADERS, 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: `origin ${origin} not allowed` }));
      req.resume();
      return;
    }
    void handleUpload(req, res, importsDir!, SECURITY_HEADERS, uploadLimit);
    return;
  }
  const download = EXPORT_DOWNLOAD_PATTERN.exec(url.pathname);
  if (download) {
    void handleExportDownload(Number(download[1]), res, handlers, SECURITY_HEADERS, req.method === 'HEAD');
    return;
  }
  serveStatic(rendererDir, url.pathname, res, SECURITY_HEADERS);
}

function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, token: string, server: Server, sockets: WebSocketServer): void {
  const url = new URL(req.url ?? '/', `http://${HOST}`);
  const { fromQuery, fromCookie } = requestToken(req);
  const port = (server.address() as AddressInfo).port;
  if (!hostAllowed(req.headers.host, port)) {
    socket.write(`HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\n\r\n`);
    socket.destroy();
    return;
  }
  const origin = req.headers.origin;
  // Browsers always send Origin on WebSocket handshakes; a foreign page must not drive the API.
  const originOk = origin === undefined || origin === `http://${HOST}:${port}` || origin === `http://localhost:${port}`;
  const tokenOk = tokensEqual(token, fromCookie) || tokensEqual(token, fromQuery);
  if (url.pathname !== WEB_API_PATH || !originOk || !tokenOk) {
    const reason = url.pathname !== WEB_API_PATH ? 'no such endpoint' : !originOk ? `origin ${origin} not allowed` : 'missing or wrong token';
    socket.write(`HTTP/1.1 ${url.pathname !== WEB_API_PATH ? 404 : 401} ${reason}\r\nConnection: close\r\n\r\n`);
    socket.destroy();
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit('connection', ws, req));
}

function serveSocket(ws: WebSocket, handlers: Handlers): void {
  ws.on('message', async (data) => {
    let message: ClientMessage;
    try {
      message = JSON.parse(String(data)) as ClientMessage;
    } catch {
      ws.send(JSON.stringify({ type: 'result', id: -1, ok: false, error: { code: 'invalid_input', message: 'message is not JSON' } }));
      return;
    }
    if (!message || message.type !== 'call' || typeof message.id !== 'number') {
      ws.send(JSON.stringify({ type: 'result', id: -1, ok: false, error: { code: 'invalid_input', message: 'expected {type:"call", id, method, input}' } }));
      return;
    }
    const result = await dispatch(handlers, message.method, message.input);
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'result', id: message.id, ...result } satisfies ServerMessage));
  });
}
