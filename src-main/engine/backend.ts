/**
 * Picks the TensorFlow.js backend: tfjs-node (native TensorFlow) when it is
 * installed, else wasm (XNNPACK, plus our gradient kernels so training works),
 * else the pure-JS cpu backend. Every rung that was skipped or failed is
 * reported with a one-line reason so the UI can say why training is slow.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { tf } from './tfjs.js';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import type { BackendInfo } from '../api/records.js';
import { registerWasmTrainingKernels } from './kernels/index.js';

export type BackendName = BackendInfo['name'];
export type BackendPreference = 'auto' | BackendName;

export const BACKEND_ENV = 'STUDIO_BACKEND';

/** Best first. A forced rung starts the ladder there and falls down from it. */
const LADDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * The argument wins when it names a backend (it comes from a CLI flag or the
 * caller's own choice); with 'auto', $STUDIO_BACKEND may force one.
 */
export function resolvePreference(prefer: BackendPreference, env: NodeJS.ProcessEnv = process.env): { choice: BackendPreference; source: string } {
  if (prefer !== 'auto') return { choice: prefer, source: 'requested' };
  const raw = env[BACKEND_ENV]?.trim().toLowerCase();
  if (!raw || raw === 'auto') return { choice: 'auto', source: 'auto' };
  if ((LADDER as readonly string[]).includes(raw)) return { choice: raw as BackendName, source: `${BACKEND_ENV}=${raw}` };
  console.warn(`${BACKEND_ENV}=${env[BACKEND_ENV]} is not one of auto, ${LADDER.join(', ')}; using auto`);
  return { choice: 'auto', source: 'auto' };
}

/** One readable line for a failed dynamic import of tfjs-node. */
export function describeTfjsNodeError(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  const message = String(e?.message ?? err);
  if ((e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && message.includes(`'${TFJS_NODE}'`)) {
    return `${TFJS_NODE} is not installed`;
  }
  if (message.includes('tfjs_binding')) return `${TFJS_NODE} is installed but its native TensorFlow binding is missing`;
  const firstLine = message.split('\n')[0] ?? '';
  return `${TFJS_NODE} failed to load: ${firstLine.length > 160 ? firstLine.slice(0, 157) + '...' : firstLine}`;
}

/**
 * electron-builder's asarUnpack puts native and .wasm files next to the
 * archive in app.asar.unpacked; module resolution still reports the path
 * inside app.asar.
 */
export function unpackedAsarPath(p: string): string {
  return p.replace(/([\\/])app\.asar(?=[\\/])/, '$1app.asar.unpacked');
}

/** The wasm backend's package, loaded with require when first needed (as engine/tfjs.ts says why). */
function wasmBackend(): typeof TfWasm {
  return createRequire(import.meta.url)('@tensorflow/tfjs-backend-wasm') as typeof TfWasm;
}

/** Folder (with trailing separator, as setWasmPaths wants) holding the wasm binaries. */
export function wasmBinaryDir(): string {
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  const inPackage = path.dirname(entry);
  const unpacked = unpackedAsarPath(inPackage);
  // Prefer the unpacked copy; without asarUnpack, Electron can still read from inside the archive.
  const dir = unpacked !== inPackage && existsSync(unpacked) ? unpacked : inPackage;
  return dir + path.sep;
}

type Attempt = { ok: true; threads: number } | { ok: false; reason: string };

async function tryTensorflow(): Promise<Attempt> {
  try {
    const specifier: string = TFJS_NODE; // a variable: the package is optional and has no types here
    await import(specifier);
  } catch (err) {
    return { ok: false, reason: describeTfjsNodeError(err) };
  }
  if (!(await tf.setBackend('tensorflow'))) {
    return { ok: false, reason: `${TFJS_NODE} loaded but did not register a usable 'tensorflow' backend (a second copy of @tensorflow/tfjs?)` };
  }
  // Native TensorFlow sizes its intra-op pool to the machine.
  return { ok: true, threads: os.availableParallelism() };
}

let wasmPathsSet = false;

async function tryWasm(): Promise<Attempt> {
  let dir: string;
  try {
    dir = wasmBinaryDir();
  } catch (err) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-wasm not found: ${(err as Error).message.split('\n')[0]}` };
  }
  const missing = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'].filter((f) => !existsSync(dir + f));
  if (missing.length > 0) return { ok: false, reason: `wasm binaries missing from ${dir}: ${missing.join(', ')}` };
  // Requiring the package registers the 'wasm' backend with TensorFlow.js.
  const { setWasmPaths, getThreadsCount } = wasmBackend();
  if (!wasmPathsSet) {
    setWasmPaths(dir); // must precede the first setBackend('wasm'), and may only be set once
    wasmPathsSet = true;
  }
  if (!(await tf.setBackend('wasm'))) {
    return { ok: false, reason: 'the wasm module failed to initialise (TensorFlow.js logged the cause above)' };
  }
  registerWasmTrainingKernels();
  // In Node the wasm backend never uses threads (no SharedArrayBuffer workers), so this is 1.
  return { ok: true, threads: getThreadsCount() };
}

async function tryCpu(): Promise<Attempt> {
  return (await tf.setBackend('cpu')) ? { ok: true, threads: 1 } : { ok: false, reason: 'the cpu backend did not start' };
}

const attempts: Record<BackendName, () => Promise<Attempt>> = { tensorflow: tryTensorflow, wasm: tryWasm, cpu: tryCpu };

async function climb(choice: BackendPreference, source: string): Promise<BackendInfo> {
  const start = choice === 'auto' ? 0 : LADDER.indexOf(choice);
  const fallbacks: BackendInfo['fallbacks'] = LADDER.slice(0, start).map((name) => ({ name, reason: `not tried: '${choice}' ${source === 'requested' ? 'was requested' : `forced by ${source}`}` }));
  for (const name of LADDER.slice(start)) {
    const attempt = await attempts[name]();
    if (attempt.ok) {
      await tf.ready();
      return { name, fallbacks, threads: attempt.threads };
    }
    fallbacks.push({ name, reason: attempt.reason });
  }
  throw new Error(`no TensorFlow.js backend could start: ${fallbacks.map((f) => `${f.name}: ${f.reason}`).join('; ')}`);
}

let current: { key: string; info: Promise<BackendInfo> } | null = null;
let settled: BackendInfo | null = null;

/**
 * Starts the best available backend and describes it. Calling again with the
 * same effective preference returns the same info without re-initialising;
 * a different preference switches backend.
 */
export async function initBackend(prefer: BackendPreference = 'auto'): Promise<BackendInfo> {
  const { choice, source } = resolvePreference(prefer);
  const key = `${choice}|${source}`;
  if (current?.key !== key) {
    const previous = current?.info.catch(() => undefined);
    // Chained so a switch never races an initialisation still under way.
    const info = (async () => {
      await previous;
      const result = await climb(choice, source);
      settled = result;
      return result;
    })();
    current = { key, info };
    info.catch(() => {
      if (current?.info === info) current = null; // let a later call try again
    });
  }
  return current!.info;
}

/** The backend chosen by the last completed initBackend call. */
export function backendInfo(): BackendInfo {
  if (!settled) throw new Error('the TensorFlow.js backend is not initialised yet: await initBackend() first');
  return settled;
}
