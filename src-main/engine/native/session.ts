/**
 * onnxruntime-node sessions for every native pass (calibration, evaluation,
 * training): the runtime loaded once, the threads, the choice of runtime per
 * pass, and the execution provider.
 *
 * Session options verified by the tests: graphOptimizationLevel 'all'
 * (constant folding, Conv+Add fusion: float-level rewrites; the simulation
 * is plain float ops, no QDQ pairs the optimizer could fold into integer
 * kernels), intra-op threads = cores (at most 8), one inter-op thread.
 *
 * Execution provider: 'cpu' by default. STUDIO_EXECUTION_PROVIDER (or the
 * run's request) may name a GPU provider that onnxruntime-node ships for the
 * platform (cuda on Linux x64, dml on Windows, coreml on macOS); when a
 * session cannot be created on it, the pass falls back to cpu and the reason
 * is kept for the run's summary.
 */
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';

export type RuntimeChoice = 'auto' | 'onnxruntime' | 'tfjs';

/** One variable for every pass; the per-pass variables (STUDIO_CALIBRATION_RUNTIME…) override it. */
export const RUNTIME_ENV = 'STUDIO_RUNTIME';
export const EXECUTION_PROVIDER_ENV = 'STUDIO_EXECUTION_PROVIDER';

/** An auto|onnxruntime|tfjs environment variable; unset or empty: $STUDIO_RUNTIME, then 'auto'. Anything else fails naming it. */
export function runtimeChoiceFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): RuntimeChoice {
  const own = parseChoice(name, env);
  return own ?? (name === RUNTIME_ENV ? 'auto' : (parseChoice(RUNTIME_ENV, env) ?? 'auto'));
}

function parseChoice(name: string, env: NodeJS.ProcessEnv): RuntimeChoice | null {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return null;
  if (raw === 'auto' || raw === 'onnxruntime' || raw === 'tfjs') return raw;
  throw new Error(`${name}=${env[name]} is not one of auto, onnxruntime, tfjs`);
}

let ortModule: Promise<typeof Ort> | null = null;

/** onnxruntime-node, loaded once; rejects with a readable reason when its native binding does not load. */
export function loadOnnxRuntime(): Promise<typeof Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: unknown) => {
    throw new Error(`onnxruntime-node failed to load: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  });
  return ortModule;
}

/** Intra-op threads for native passes: every available core, at most 8. */
export function nativeThreads(): number {
  return Math.max(1, Math.min(8, os.availableParallelism()));
}

/** Execution providers onnxruntime-node ships per platform (its npm tarball's binaries). */
export const PLATFORM_PROVIDERS: Readonly<Record<string, readonly string[]>> = {
  linux: ['cpu', 'cuda', 'tensorrt'],
  win32: ['cpu', 'dml', 'cuda'],
  darwin: ['cpu', 'coreml'],
};

export interface ProviderChoice {
  /** What was asked: the request, $STUDIO_EXECUTION_PROVIDER, or 'cpu'. */
  requested: string;
}

export function executionProviderChoice(requested?: string, env: NodeJS.ProcessEnv = process.env): ProviderChoice {
  const raw = (requested ?? env[EXECUTION_PROVIDER_ENV] ?? 'cpu').trim().toLowerCase();
  return { requested: raw || 'cpu' };
}

/** Where a session ended up: the provider it runs on, and why not the one asked for. */
export interface SessionPlacement {
  provider: string;
  threads: number;
  fallback?: string;
}

export interface NativeSession {
  session: Ort.InferenceSession;
  placement: SessionPlacement;
}

/**
 * A session on the chosen provider, or on cpu with the reason when that
 * provider is not shipped for this platform or fails to create the session.
 */
export async function createSession(
  bytes: Uint8Array,
  opts: { threads?: number; provider?: string; platform?: string; optimization?: Ort.InferenceSession.SessionOptions['graphOptimizationLevel'] } = {},
): Promise<NativeSession> {
  const ort = await loadOnnxRuntime();
  const threads = opts.threads ?? nativeThreads();
  const provider = executionProviderChoice(opts.provider).requested;
  const base = { graphOptimizationLevel: opts.optimization ?? ('all' as const), intraOpNumThreads: threads, interOpNumThreads: 1 };
  const fallback = providerUnavailable(provider, opts.platform ?? process.platform);
  if (provider !== 'cpu' && !fallback) {
    try {
      const session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: [provider, 'cpu'] });
      return { session, placement: { provider, threads } };
    } catch (e) {
      const cpu = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] });
      return { session: cpu, placement: { provider: 'cpu', threads, fallback: `the ${provider} execution provider failed: ${firstLine(e)}` } };
    }
  }
  const session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] });
  return { session, placement: { provider: 'cpu', threads, ...(fallback ? { fallback } : {}) } };
}

/** Why `provider` cannot be used on `platform`, or null when it may be tried. */
export function providerUnavailable(provider: string, platform: string): string | null {
  if (provider === 'cpu') return null;
  const shipped = PLATFORM_PROVIDERS[platform] ?? ['cpu'];
  if (!shipped.includes(provider)) return `onnxruntime-node ships no ${provider} execution provider for ${platform} (it has ${shipped.join(', ')})`;
  return null;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
