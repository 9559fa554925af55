/** Helpers of the Export view: destination names, sizes, and reading an export's verification and audit. Pure, no DOM. */
import type { ExportFormatInfo, ExportProgress, ExportRecord, RunSummary } from '../../../src-main/api/contract.js';
import type { RunConfig } from '../../../src-main/api/run-config.js';

/** A run as a file name: "run7_fashion_cnn_8w8a". */
export function defaultExportName(run: Pick<RunSummary, 'id' | 'name'>): string {
  const cleaned = run.name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+|_+$/g, '').slice(0, 80);
  return cleaned ? `run${run.id}_${cleaned}` : `run${run.id}`;
}

/** The destination of one format from a base name or path: base + the format's extension, or base + "_tfjs" for a folder. A known extension typed at the end of the base is dropped first. */
export function exportTarget(base: string, info: ExportFormatInfo, all: readonly ExportFormatInfo[]): string {
  let stem = base.trim();
  for (const f of all) {
    if (f.target.kind === 'file' && stem.toLowerCase().endsWith(f.target.extension.toLowerCase())) stem = stem.slice(0, -f.target.extension.length);
  }
  if (stem.endsWith('_tfjs')) stem = stem.slice(0, -'_tfjs'.length);
  return info.target.kind === 'file' ? `${stem}${info.target.extension}` : `${stem}_${info.format}`;
}

/**
 * Why the TFLite "int8 input and output" option is not offered for a run,
 * or null when it is. A run with 16-bit activations (its own, or a layer's
 * override) is written 16x8, whose integer ends would be int16: the TFLite
 * writer refuses integer I/O for it (export/tflite/index.ts). The option is
 * TFLite's only: the ONNX file takes and gives float at any bit width.
 */
export function integerIoProblem(config: Pick<RunConfig, 'activations' | 'overrides'>): string | null {
  const ends = 'written with float input and output only (int16 ends are not offered)';
  if (config.activations.bits === 16) return `The run's activations are 16-bit: its TFLite file is 16x8, ${ends}`;
  const layer = config.overrides.find((o) => !o.float && o.activationBits === 16)?.layer;
  return layer === undefined ? null : `Layer ${layer} has 16-bit activations: a TFLite file with them is 16x8, ${ends}`;
}

/** Where a name typed under the web host's folder lands, for showing: folder + name (the host resolves it the same way). */
export function shownPath(folder: string | null, name: string): string {
  if (folder === null || /^([A-Za-z]:)?[\\/]/.test(name)) return name;
  const sep = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
  return `${folder.replace(/[\\/]+$/, '')}${sep}${name}`;
}

/** A file name or a path a user typed, checked before it is sent: empty, or a name with a folder part where only a name is allowed. */
export function destinationProblem(base: string, restricted: boolean): string | null {
  const t = base.trim();
  if (t === '') return restricted ? 'Type a file name.' : 'Type the path to write to.';
  if (restricted && /(^|[\\/])\.\.([\\/]|$)/.test(t)) return 'The name cannot leave the export folder (no "..").';
  if (!restricted && !/^([A-Za-z]:)?[\\/]/.test(t)) return 'Type an absolute path (starting with / or a drive letter).';
  return null;
}

/** 1536 -> "1.5 KB", 2.5e6 -> "2.38 MB". */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(3))} ${units[i]}`;
}

/** Bytes of the float model: one float32 per parameter. */
export function floatModelBytes(paramCount: number | null | undefined): number | null {
  return paramCount === null || paramCount === undefined || !(paramCount > 0) ? null : paramCount * 4;
}

/** The runtime's comparison with the studio simulation, if the export was verified. */
export interface VerificationView {
  runtime: string;
  count: number;
  runtimeAccuracy: number;
  simulationAccuracy: number;
  agreement: number;
  maxAbsDiff: number;
  meanAbsDiff: number | null;
  passed: boolean;
  seconds: number | null;
  /** What the studio simulation computes, and on which runtime (verification.simulation: a record, or text in older exports). */
  simulation: string | null;
  /** The integer reference's figures (verification.integer), numbers only, when present. */
  integer: [string, number | string | boolean][] | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function readVerification(record: Pick<ExportRecord, 'verification'>): VerificationView | null {
  const v = record.verification;
  const agreement = num(v['agreement']);
  const runtimeAccuracy = num(v['runtimeAccuracy']);
  const simulationAccuracy = num(v['simulationAccuracy']);
  if (agreement === null || runtimeAccuracy === null || simulationAccuracy === null) return null;
  const integerRaw = v['integer'];
  let integer: VerificationView['integer'] = null;
  if (integerRaw && typeof integerRaw === 'object' && !Array.isArray(integerRaw)) {
    integer = Object.entries(integerRaw as Record<string, unknown>).filter((e): e is [string, number | string | boolean] => ['number', 'string', 'boolean'].includes(typeof e[1]));
  }
  return {
    runtime: typeof v['runtime'] === 'string' ? v['runtime'] : 'runtime',
    count: num(v['count']) ?? 0,
    runtimeAccuracy,
    simulationAccuracy,
    agreement,
    maxAbsDiff: num(v['maxAbsDiff']) ?? NaN,
    meanAbsDiff: num(v['meanAbsDiff']),
    passed: v['passed'] === true,
    seconds: num(v['seconds']),
    simulation: simulationText(v['simulation']),
    integer,
  };
}

/** The simulation's words: its description and runtime (and why not onnxruntime) from a record, or the text older exports stored. */
function simulationText(s: unknown): string | null {
  if (typeof s === 'string') return s;
  if (!s || typeof s !== 'object') return null;
  const r = s as Record<string, unknown>;
  if (typeof r['description'] !== 'string') return null;
  const runtime = typeof r['runtime'] === 'string' ? `, simulated on ${r['runtime']}${typeof r['reason'] === 'string' ? ` (${r['reason']})` : ''}` : '';
  return `${r['description']}${runtime}`;
}

/** One audited tensor as the writers report it (ONNX: checked[]). */
export interface AuditCheck {
  tensor: string;
  detail: string;
}

export interface AuditView {
  ok: boolean;
  problems: string[];
  checks: AuditCheck[];
  /** One line: what was checked (e.g. "37 tensors checked", "JSON and CSV read back…"). */
  summary: string;
}

export function readAudit(record: Pick<ExportRecord, 'audit'>): AuditView {
  const a = record.audit;
  const problems = Array.isArray(a['problems']) ? a['problems'].filter((p): p is string => typeof p === 'string') : [];
  const list = Array.isArray(a['checked']) ? a['checked'] : Array.isArray(a['weights']) ? a['weights'] : [];
  const checks: AuditCheck[] = [];
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const o = item as Record<string, unknown>;
    const tensor = String(o['tensor'] ?? o['name'] ?? '?');
    const detail = Object.entries(o)
      .filter(([k, v]) => k !== 'tensor' && k !== 'name' && v !== null && v !== undefined && typeof v !== 'object')
      .map(([k, v]) => `${k} ${typeof v === 'number' && !Number.isInteger(v) ? v.toExponential(2) : String(v)}`)
      .concat(Array.isArray(o['range']) ? [`range [${(o['range'] as unknown[]).join(', ')}]`] : [])
      .join(' · ');
    checks.push({ tensor, detail });
  }
  const summary =
    typeof a['roundTrip'] === 'string' ? a['roundTrip'] : checks.length > 0 ? `${checks.length} tensors checked against the run's config` : typeof a['tensors'] === 'number' ? `${a['tensors']} tensors checked` : 'file read back';
  return { ok: a['ok'] !== false && problems.length === 0, problems, checks, summary };
}

/** Share of the whole job each step stands for; verification (the runtime and the simulation over the eval split) is nearly all of it. */
const STEP_SPAN: Record<string, [number, number]> = {
  queued: [0, 0],
  rebuild: [0, 0.04],
  write: [0.04, 0.08],
  audit: [0.08, 0.12],
  verify: [0.12, 0.98],
  store: [0.98, 1],
};

/**
 * Overall progress 0..1 of an export job. Verification runs one pass per
 * stage (the studio simulation, then the runtime); passes share its span,
 * two assumed until more are seen.
 */
export function exportFraction(p: Pick<ExportProgress, 'phase' | 'done' | 'total' | 'message'> | null, stages: readonly string[] = []): number {
  if (!p) return 0;
  const [from, to] = STEP_SPAN[p.phase] ?? [0, 0];
  let within = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  if (p.phase === 'verify') {
    const passes = Math.max(2, stages.length);
    const index = Math.max(0, p.message ? stages.indexOf(p.message) : 0);
    within = (index + within) / passes;
  }
  return from + (to - from) * within;
}

/** Words for a step of an export job. */
export function exportPhaseLabel(p: Pick<ExportProgress, 'phase' | 'message'>): string {
  switch (p.phase) {
    case 'queued':
      return 'waiting for the engine';
    case 'rebuild':
      return 'rebuilding the model';
    case 'write':
      return 'writing the file';
    case 'audit':
      return 'auditing the file read back';
    case 'verify':
      return p.message ? `verifying: ${p.message}` : 'verifying';
    case 'store':
      return 'storing the result';
    default:
      return p.phase;
  }
}
