/**
 * The real TFLite interpreter in Node: the TFLite runtime compiled to wasm that
 * ships in @tensorflow/tfjs-tflite (wasm/tflite_web_api_cc.{js,wasm}, the
 * non-SIMD, non-threaded build: same kernels, no worker threads).
 *
 * The package's own loader (dist/tf-tflite.node.js) only works in a browser
 * or web worker (it injects a <script> or calls importScripts, and fetches the
 * .wasm by URL), so the emscripten module is loaded directly: it is a
 * CommonJS factory that supports Node, given the wasm bytes. Its embind class
 * TFLiteWebModelRunner is what the package's TFLiteModel wraps:
 * CreateFromBufferAndOptions(ptr, size, {numThreads, ...}), GetInputs() /
 * GetOutputs() (tensor infos whose data() is a typed view on the wasm heap),
 * Infer().
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

interface TensorInfo {
  name: string;
  dataType: string;
  shape: string;
  data(): Float32Array | Int8Array | Int16Array | Uint8Array | Int32Array;
}
interface CppVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}
interface CppRunner {
  GetInputs(): CppVector<TensorInfo>;
  GetOutputs(): CppVector<TensorInfo>;
  Infer(): boolean;
  delete(): void;
}
interface StatusOrRunner {
  ok(): boolean;
  errorMessage(): string;
  value(): CppRunner;
  delete(): void;
}
interface TfliteWasmModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  TFLiteWebModelRunner: { CreateFromBufferAndOptions(ptr: number, size: number, options: Record<string, unknown>): StatusOrRunner };
}

export const TFLITE_WASM_VARIANT = 'tflite_web_api_cc (no SIMD, no threads)';

/** Folder of the wasm runtime inside the installed package. */
export function tfliteWasmDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc.js'));
}

export function tfliteVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(tfliteWasmDir(), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

let loading: Promise<TfliteWasmModule> | null = null;

/** The wasm module, loaded once per process. */
export function loadTfliteWasm(): Promise<TfliteWasmModule> {
  if (!loading) {
    const dir = tfliteWasmDir();
    const factory = require(path.join(dir, 'tflite_web_api_cc.js')) as (m: Record<string, unknown>) => Promise<TfliteWasmModule>;
    loading = factory({
      wasmBinary: readFileSync(path.join(dir, 'tflite_web_api_cc.wasm')),
      locateFile: (f: string) => path.join(dir, f),
      print: () => {},
      printErr: () => {},
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

export interface TfliteTensor {
  name: string;
  dataType: string;
  shape: number[];
  /** A view on the interpreter's memory: write inputs into it, read outputs from it before the next call. */
  data(): Float32Array | Int8Array | Int16Array | Uint8Array | Int32Array;
}

/** One interpreter over one model, single-threaded. Call close() when done. */
export class TfliteInterpreter {
  private constructor(
    private readonly module: TfliteWasmModule,
    private readonly runner: CppRunner,
    private readonly modelPtr: number,
  ) {}

  static async create(model: Uint8Array): Promise<TfliteInterpreter> {
    const m = await loadTfliteWasm();
    const ptr = m._malloc(model.length);
    m.HEAPU8.set(model, ptr);
    const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, model.length, { numThreads: 1, enableProfiling: false, maxProfilingBufferEntries: 1024 });
    try {
      if (!status.ok()) throw new Error(status.errorMessage());
      return new TfliteInterpreter(m, status.value(), ptr);
    } catch (e) {
      m._free(ptr);
      throw e;
    } finally {
      status.delete();
    }
  }

  private static list(v: CppVector<TensorInfo>): TfliteTensor[] {
    try {
      const out: TfliteTensor[] = [];
      for (let i = 0; i < v.size(); i++) {
        const t = v.get(i);
        out.push({ name: t.name, dataType: t.dataType, shape: t.shape.split(',').map(Number), data: () => t.data() });
      }
      return out;
    } finally {
      v.delete();
    }
  }

  inputs(): TfliteTensor[] {
    return TfliteInterpreter.list(this.runner.GetInputs());
  }

  outputs(): TfliteTensor[] {
    return TfliteInterpreter.list(this.runner.GetOutputs());
  }

  invoke(): void {
    if (!this.runner.Infer()) throw new Error('TFLite Invoke failed');
  }

  close(): void {
    this.runner.delete();
    this.module._free(this.modelPtr);
  }
}
