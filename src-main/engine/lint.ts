/**
 * What a run with this config would meet, said before anything runs: the
 * problems TFLite's converter reports only at the end ("… is lacking min/max
 * data, which is necessary for quantization"), BatchNormalizations that will
 * not fold and why, unsupported layers, per-channel axes a kernel does not
 * have. Every finding names the layer and says what to do.
 *
 * Codes (stable, for the CLI, the UI and tests):
 *  - error   `unsupported-layer`        config.unsupported 'stop': the run stops at this layer;
 *  - error   `axis-missing`             the per-channel axis does not exist for the layer's kernel;
 *  - error   `axis-single-channel`      the axis holds 1 channel while the layer has several outputs;
 *  - error   `plan-failed`              the planner rejected the graph for another reason;
 *  - error   `weight-not-finite`        a weight holds NaN or ±Inf (prepare would refuse the model);
 *  - warning `unsupported-layer`        config.unsupported 'keep-float': the layer runs in float;
 *  - warning `bn-not-foldable`          a BatchNormalization cannot fold, with the reason: it runs as its own integer multiply-add (x·s + t, TFLite's MUL + ADD) with its own range;
 *  - warning `tensor-without-range`     a quantized op reads a tensor that will have no range;
 *  - warning `axis-not-output-channels` per-channel weights on an axis other than the output channels;
 *  - warning `activation-per-channel`   per-channel activations, which the integer formats cannot store;
 *  - warning `override-unknown-layer`   an override names no layer of the (folded) graph;
 *  - info    `bn-folded`                a BatchNormalization folds into the layer before it;
 *  - info    `float-override`           a layer kept float by config.overrides;
 *  - info    `input-preprocessing`      Rescaling / Normalization right after the input: the input quantizer follows them;
 *  - error   `target-*`                 config.target cannot hold this (engine/targets/rules.ts: bits, symmetry, range, granularity, float layers, ops), naming what would change; PTQ and QAT alike;
 *  - info    `target-plan`              what the target changes in the plan (a fused softmax split off, outputs on fixed grids).
 *
 * A tensor without a range is a warning, not an error: the studio simulates
 * the quantized op with a float input and the run is still useful; what
 * cannot be produced is the integer model (its bias scale s_input·s_weight
 * needs the input's scale). A float override necessarily creates such a
 * boundary, and an error would make overrides unusable.
 *
 * Runs of kind 'float' quantize nothing, so they get no findings.
 */
import type { LintFinding } from '../api/records.js';
import type { RunConfig } from '../api/run-config.js';
import type { Graph, GraphNode } from './graph/types.js';
import { isWeighted, nodeByName } from './graph/types.js';
import type { FoldBlocker } from './transform/bn-foldability.js';
import { inspect, type NonFiniteWeight } from './prepare.js';
import type { FoldRecord, KeptBatchNorm } from './transform/fold-batchnorm.js';
import { consumersOf, findNode, kerasClassOf } from './transform/graph-queries.js';
import { outputChannelAxis, outputChannels, resolveKernelAxis } from './transform/kernel-axis.js';
import { overridesByLayer } from './transform/overrides.js';
import { unsupportedLayersOf, type FloatLayer, type QuantPlan, type TensorRange, type UnsupportedLayer } from './transform/plan.js';
import { targetOf } from './targets/index.js';
import { targetViolations } from './targets/rules.js';

export interface LintOptions {
  /** More unsupported layers besides the graph's opaque 'layer' nodes, which are always reported (see UnsupportedLayer). */
  unsupportedLayers?: UnsupportedLayer[];
  /** Default 'ptq'. 'float' runs get no findings. */
  kind?: 'ptq' | 'qat' | 'float';
}

const SEVERITY_ORDER: Record<LintFinding['severity'], number> = { error: 0, warning: 1, info: 2 };

/**
 * Lints `graph` as read from the model file (BatchNormalizations not yet
 * folded: the fold happens here, by the steps every run takes (prepare.ts'
 * inspect, which reports what prepare would refuse), so the findings can say
 * which BN folds where). An already folded graph is fine too; it just yields no `bn-folded`
 * findings. Findings come errors first, then warnings, then info, each group
 * in graph order. Never throws on a graph the IR can hold.
 */
export function lintModel(graph: Graph, config: RunConfig, opts: LintOptions = {}): LintFinding[] {
  const kind = opts.kind ?? 'ptq';
  if (kind === 'float') return [];
  const findings: LintFinding[] = [];
  // The plan for tensor ranges and float layers: weight granularity and the
  // unsupported policy do not change which tensors get a range, and their
  // errors are reported below instead of thrown.
  const fold = inspect(graph, { ...config, weights: { ...config.weights, granularity: 'per-tensor' }, unsupported: 'keep-float' }, { plan: opts });
  const folded = fold.graph;

  findings.push(...fold.nonFinite.map(nonFiniteWeight));
  findings.push(...unsupportedFindings(config, unsupportedLayersOf(graph, opts.unsupportedLayers)));
  for (const kept of fold.kept) findings.push(bnNotFoldable(graph, kept, kind, config));

  const plan = fold.plan;
  if (!plan) {
    findings.push({
      severity: 'error',
      layer: null,
      code: 'plan-failed',
      message: `The model cannot be planned for quantization: ${oneLine(fold.planError!.message)}.`,
      fix: 'Keep the layer named in the message float with an override, or change the model.',
    });
    return sorted(findings);
  }
  const floatLayers = new Map(plan.float.map((f) => [f.layer, f]));

  findings.push(...axisFindings(folded, config, floatLayers));
  if (config.activations.granularity === 'per-channel') findings.push(activationPerChannel());
  findings.push(...missingRangeFindings(folded, plan, fold.kept, floatLayers));
  findings.push(...overrideFindings(folded, config, fold.folded));
  for (const record of fold.folded) findings.push(bnFolded(record, kind, config));
  for (const f of plan.float) if (f.reason === 'override') findings.push(floatOverride(folded, f));
  const inputQ = plan.activations.find((a) => a.role === 'input');
  if (inputQ && inputQ.layers.length > 1) findings.push(inputPreprocessing(folded, inputQ.layers.slice(1)));
  findings.push(...targetFindings(folded, plan, config));

  return sorted(findings);
}

/** One line per finding: `SEVERITY code layer: message Fix: fix` (empty string for no findings). */
export function lintSummary(findings: readonly LintFinding[]): string {
  return findings.map((f) => `${f.severity.toUpperCase().padEnd(7)} ${f.code} ${f.layer ?? '(model)'}: ${oneLine(f.message)} Fix: ${oneLine(f.fix)}`).join('\n');
}

function sorted(findings: LintFinding[]): LintFinding[] {
  return findings.map((f, i) => ({ f, i })).sort((a, b) => SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] || a.i - b.i).map((x) => x.f);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** `conv2d (Conv2D)`. */
function named(node: GraphNode): string {
  return `${node.name} (${kerasClassOf(node)})`;
}

function floatOverrideText(layers: string[]): string {
  return `overrides: [${layers.map((l) => `{ layer: '${l}', float: true }`).join(', ')}]`;
}

function nonFiniteWeight(w: NonFiniteWeight): LintFinding {
  return {
    severity: 'error',
    layer: w.layer,
    code: 'weight-not-finite',
    message: `Weight ${w.layer}/${w.weight} holds ${w.value} at index ${w.index}: no range or scale can be computed from it, and the run would stop before calibrating.`,
    fix: 'Fix or retrain the model: every weight must be a finite number.',
  };
}

function unsupportedFindings(config: RunConfig, layers: UnsupportedLayer[]): LintFinding[] {
  return layers.map((u) =>
    config.unsupported === 'stop'
      ? {
          severity: 'error' as const,
          layer: u.name,
          code: 'unsupported-layer',
          message: `${u.name} (${u.className}) cannot be quantized${u.reason ? ` (${u.reason})` : ''}, and with unsupported: stop the run stops here.`,
          fix: `Set unsupported: keep-float to run ${u.name} in float and quantize the rest, or replace the ${u.className} layer in the model.`,
        }
      : {
          severity: 'warning' as const,
          layer: u.name,
          code: 'unsupported-layer',
          message: `${u.name} (${u.className}) cannot be quantized${u.reason ? ` (${u.reason})` : ''}; it will run in float (unsupported: keep-float), so its output has no range.`,
          fix: `Nothing is needed for the simulation; for a fully integer model replace the ${u.className} layer with supported layers.`,
        },
  );
}

/** Why a BN stays, in words, and what would make it fold. */
function bnNotFoldable(graph: Graph, kept: KeptBatchNorm, kind: 'ptq' | 'qat', config: RunConfig): LintFinding {
  const bn = kept.batchNorm;
  const qat =
    kind === 'qat' && kept.blocker.reason !== 'channel-mismatch'
      ? ` In QAT it trains as a BatchNormalization (γ and β trained, each batch's statistics for the first ${config.training?.bnFreezeStep ?? 200} steps, then the moving ones), its output fake-quantized on that range; the trained statistics make the multiply-add.`
      : '';
  const b = kept.blocker;
  const producer = nodeByName(graph, b.producer);
  const { why, fix } = blockerText(graph, bn, b, producer);
  return {
    severity: 'warning',
    layer: bn,
    code: 'bn-not-foldable',
    message: `${bn} (BatchNormalization) cannot be folded: ${why} ${
      b.reason === 'channel-mismatch'
        ? 'It stays a float op, so its output tensor has no range (min/max).'
        : "It becomes a per-channel multiply-add of its own, x·s + t with s = γ/√(σ²+ε) and t = β − μ·s, quantized with its own output range, as TFLite's converter writes such a BN (MUL + ADD): one more integer op and one more rounding than a folded BN."
    }${qat}`,
    fix,
  };
}

function blockerText(graph: Graph, bn: string, b: FoldBlocker, producer: GraphNode): { why: string; fix: string } {
  const keepFloat = `or leave it: ${bn} runs as its own integer multiply-add`;
  switch (b.reason) {
    case 'after-activation': {
      const act = b.activation ?? 'an activation';
      if (act === 'linear' && b.weightedLayer && b.weightedLayer !== b.producer) {
        return {
          why: `it reads ${named(producer)}, a linear Activation between it and ${b.weightedLayer}; the fold only looks at the layer directly before the BN.`,
          fix: `Remove ${producer.name} (it does nothing) so ${bn} reads ${b.weightedLayer} directly; ${keepFloat}.`,
        };
      }
      if (b.weightedLayer && b.weightedLayer !== b.producer) {
        const w = nodeByName(graph, b.weightedLayer);
        return {
          why: `it reads ${named(producer)}, the ${act} applied to ${named(w)}; BN(${act}(y)) is not an affine map of y, so it cannot go into ${w.name}'s weights.`,
          fix: `Move ${bn} before the activation (${kerasClassOf(w)} ${w.name} → BatchNormalization → ${act}) and fine-tune, so it folds into ${w.name}; ${keepFloat}.`,
        };
      }
      if (b.weightedLayer) {
        return {
          why: `it reads ${named(producer)}, which applies activation '${act}' itself; BN(${act}(y)) is not an affine map of y, so it cannot go into ${producer.name}'s weights.`,
          fix: `Build ${producer.name} with activation 'linear' and put the ${act} as its own layer after ${bn}, then fine-tune, so ${bn} folds into ${producer.name}; ${keepFloat}.`,
        };
      }
      return {
        why: `it reads ${named(producer)}, an activation that does not follow a Dense or convolution.`,
        fix: `Place ${bn} directly after a Dense, Conv2D or DepthwiseConv2D, before its activation; ${keepFloat}.`,
      };
    }
    case 'shared-producer': {
      const others = (b.otherConsumers ?? []).map((c) => (c === '<output>' ? 'the model output' : c));
      return {
        why: `${named(producer)}'s output is also read by ${others.join(', ')}; folding would change what ${others.length > 1 ? 'they read' : 'it reads'}.`,
        fix: `Let ${bn} be the only reader of ${producer.name} (route ${others.join(', ')} through ${bn}, or give them their own copy of ${producer.name}); ${keepFloat}.`,
      };
    }
    case 'not-after-weighted-layer':
      return {
        why: `it reads ${named(producer)}, not a Dense, Conv2D or DepthwiseConv2D, so there are no weights to fold it into.`,
        fix: `Place ${bn} directly after a Dense, Conv2D or DepthwiseConv2D; ${keepFloat}.`,
      };
    case 'channel-mismatch':
      return {
        why: `its channel count differs from ${named(producer)}'s output channels.`,
        fix: `Check the model file: ${bn}'s statistics must have one value per output channel of ${producer.name}.`,
      };
  }
}

function axisFindings(graph: Graph, config: RunConfig, floatLayers: Map<string, FloatLayer>): LintFinding[] {
  if (config.weights.granularity !== 'per-channel') return [];
  const out: LintFinding[] = [];
  for (const node of graph.nodes) {
    if (!isWeighted(node) || floatLayers.has(node.name)) continue;
    const r = resolveKernelAxis(node, config.weights.axis);
    const view = `[${r.view.join(',')}]`;
    const outAxis = outputChannelAxis(node);
    const channels = outputChannels(node);
    const viewNote = node.op === 'depthwiseConv2d' ? ` (the [kh,kw,in,mult] kernel quantized as ${view}, in·mult = ${channels} output channels)` : ` ${view}`;
    const fixAxis = `Leave weights.axis unset (the output-channel axis of every layer) or set it to -1, or use granularity per-tensor.`;
    if (!r.ok) {
      out.push({
        severity: 'error',
        layer: node.name,
        code: 'axis-missing',
        message: `weights.axis ${r.axis} does not exist for the kernel of ${named(node)}${viewNote}, which has ${r.view.length} axes.`,
        fix: fixAxis,
      });
    } else if (r.channels === 1 && channels > 1) {
      out.push({
        severity: 'error',
        layer: node.name,
        code: 'axis-single-channel',
        message: `weights.axis ${r.axis} of the kernel of ${named(node)}${viewNote} holds a single channel, so per-channel would give one scale for ${channels} output channels.`,
        fix: fixAxis,
      });
    } else if (r.axis !== outAxis) {
      out.push({
        severity: 'warning',
        layer: node.name,
        code: 'axis-not-output-channels',
        message: `weights.axis ${r.axis} of the kernel of ${named(node)}${viewNote} is not its output-channel axis ${outAxis}: the ${r.channels} scales cannot give a per-channel bias scale (s_input·s_weight[k]) and TFLite / ONNX per-channel weights are on output channels.`,
        fix: fixAxis,
      });
    }
  }
  return out;
}

function activationPerChannel(): LintFinding {
  return {
    severity: 'warning',
    layer: null,
    code: 'activation-per-channel',
    message: 'activations.granularity is per-channel, but TFLite int8 (and the integer kernels ONNX runtimes use) quantize activations per tensor: the simulated accuracy will be better than any exported model.',
    fix: 'Set activations.granularity to per-tensor (the default) to measure what an exported model will do.',
  };
}

/**
 * Every tensor a quantized op reads that has no range, one finding per tensor
 * (naming all its quantized readers), traced through pass-through ops to the
 * float layer it comes from.
 */
function missingRangeFindings(graph: Graph, plan: QuantPlan, kept: KeptBatchNorm[], floatLayers: Map<string, FloatLayer>): LintFinding[] {
  const tensors = new Map(plan.tensors.map((t) => [t.tensor, t]));
  const keptBn = new Map(kept.map((k) => [k.batchNorm, k]));
  const readers = new Map<string, string[]>();
  for (const a of plan.activations) {
    if (a.role === 'input') continue;
    const head = nodeByName(graph, a.layers[0]!);
    for (const input of new Set(head.inputs)) {
      if (tensors.get(input)?.range != null) continue;
      readers.set(input, [...(readers.get(input) ?? []), head.name]);
    }
  }
  const out: LintFinding[] = [];
  for (const node of graph.nodes) {
    const consumers = readers.get(node.name);
    if (!consumers) continue;
    const origin = originOf(tensors, node.name);
    const originNode = nodeByName(graph, origin.tensor);
    const via = origin.tensor === node.name ? '' : `, which passes on the range of ${named(originNode)}`;
    const why = floatWhy(originNode, floatLayers.get(origin.tensor), keptBn.get(origin.tensor));
    const readerText = consumers.map((c) => named(nodeByName(graph, c))).join(', ');
    const keepConsumers = floatOverrideText(consumers);
    out.push({
      severity: 'warning',
      layer: node.name,
      code: 'tensor-without-range',
      message:
        `Tensor ${node.name} (output of ${named(node)}${via}) will have no range (min/max), but the quantized ${readerText} ${consumers.length > 1 ? 'read' : 'reads'} it: ${why} ` +
        `An integer model needs that range (a quantized op's input scale; TFLite's converter stops with "lacking min/max data, which is necessary for quantization"); the studio simulates the op with a float input.`,
      fix: `${whyFix(originNode, floatLayers.get(origin.tensor))}, or keep ${consumers.join(', ')} float too: ${keepConsumers}.`,
    });
  }
  return out;
}

/** Follows passed-through tensors back to the one that decided the (missing) range. */
function originOf(tensors: Map<string, TensorRange>, name: string): TensorRange {
  let t = tensors.get(name)!;
  const seen = new Set<string>();
  while (t.how === 'passed-through' && t.from && !seen.has(t.tensor)) {
    seen.add(t.tensor);
    t = tensors.get(t.from)!;
  }
  return t;
}

function floatWhy(node: GraphNode, float: FloatLayer | undefined, kept: KeptBatchNorm | undefined): string {
  if (!float) return `${node.name} gets no quantizer.`;
  const fused = float.fusedWith ? ` as part of one op with ${float.fusedWith}` : '';
  switch (float.reason) {
    case 'override':
      return `${node.name} is kept float by an override${fused}.`;
    case 'unsupported':
      return `${node.name} cannot be quantized and is kept float (unsupported: keep-float)${fused}.`;
    case 'batchnorm-not-folded':
      return `${node.name} is a BatchNormalization that cannot be folded${kept ? ` (${kept.blocker.reason}; see its bn-not-foldable finding)` : ''} nor computed as a multiply-add (its statistics do not fit its channels), so it runs in float.`;
  }
}

function whyFix(node: GraphNode, float: FloatLayer | undefined): string {
  if (node.op === 'batchNorm') return `Make ${node.name} foldable (see its bn-not-foldable finding)`;
  if (float?.reason === 'override') return `Remove the float override of ${float.fusedWith ?? node.name}`;
  if (float?.reason === 'unsupported') return `Replace ${float.fusedWith ?? node.name} with supported layers`;
  return `Quantize ${node.name}`;
}

function overrideFindings(graph: Graph, config: RunConfig, folded: FoldRecord[]): LintFinding[] {
  const out: LintFinding[] = [];
  for (const layer of overridesByLayer(config).keys()) {
    if (findNode(graph, layer)) continue;
    const into = folded.find((f) => f.batchNorm === layer);
    out.push(
      into
        ? {
            severity: 'warning',
            layer,
            code: 'override-unknown-layer',
            message: `The override for ${layer} has no effect: ${layer} (BatchNormalization) is folded into ${into.layer} and no longer exists in the quantized model.`,
            fix: `Put the override on ${into.layer} instead.`,
          }
        : {
            severity: 'warning',
            layer,
            code: 'override-unknown-layer',
            message: `The override for ${layer} has no effect: the model has no layer named ${layer}.`,
            fix: `Use a layer name from the model summary (e.g. ${graph.nodes.filter((n) => isWeighted(n)).slice(0, 3).map((n) => n.name).join(', ') || graph.nodes[0]?.name}).`,
          },
    );
  }
  return out;
}

function bnFolded(record: FoldRecord, kind: 'ptq' | 'qat', config: RunConfig): LintFinding {
  const qat = kind === 'qat' ? ` In QAT the fold uses each batch's statistics for the first ${config.training?.bnFreezeStep ?? 200} steps, then the moving ones.` : '';
  const bias = record.biasAdded ? ` (${record.layer} had no bias and gets one)` : '';
  const cls = { dense: 'Dense', conv2d: 'Conv2D', depthwiseConv2d: 'DepthwiseConv2D' }[record.op];
  return {
    severity: 'info',
    layer: record.batchNorm,
    code: 'bn-folded',
    message: `${record.batchNorm} (BatchNormalization) will be folded into ${record.layer} (${cls}), ${record.channels} channels: W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β${bias}; it needs no range of its own.${qat}`,
    fix: 'Nothing to do.',
  };
}

/** The affine layers (in order) between the model input and its quantizer. */
function inputPreprocessing(graph: Graph, affines: string[]): LintFinding {
  const last = affines[affines.length - 1]!;
  const list = affines.map((a) => named(nodeByName(graph, a))).join(', then ');
  return {
    severity: 'info',
    layer: last,
    code: 'input-preprocessing',
    message: `${list} preprocess${affines.length > 1 ? '' : 'es'} the model input: the integer model takes ${last}'s output, so the input quantizer sits after ${last} and the preprocessing stays in float, before the model.`,
    fix: 'Nothing to do; give the integer model inputs preprocessed the same way.',
  };
}

function floatOverride(graph: Graph, f: FloatLayer): LintFinding {
  const node = findNode(graph, f.layer);
  const what = node ? named(node) : f.layer;
  const fused = f.fusedWith ? `, as one op with ${f.fusedWith} (which the override names)` : ' by an override';
  const weights = node && isWeighted(node) ? ' its kernel and' : '';
  return {
    severity: 'info',
    layer: f.layer,
    code: 'float-override',
    message: `${what} is kept float${fused}:${weights} its output will not be quantized.`,
    fix: `Nothing to do; remove the override of ${f.fusedWith ?? f.layer} to quantize it.`,
  };
}


/** What config.target cannot hold (errors, each naming the layer and what would change), and what it changes in the plan: the same for PTQ and QAT runs. */
function targetFindings(graph: Graph, plan: QuantPlan, config: RunConfig): LintFinding[] {
  const target = targetOf(config);
  if (!target) return [];
  const out: LintFinding[] = targetViolations(target, graph, plan, config).map((v) => ({ severity: 'error' as const, layer: v.layer, code: v.code, message: v.message, fix: v.change }));
  const split = graph.nodes.filter((n) => n.op === 'activation' && n.activation === 'softmax' && n.name.endsWith('/softmax')).map((n) => n.inputs[0]!);
  const fixed = plan.activations.filter((a) => a.fixed);
  if (split.length || fixed.length) {
    out.push({
      severity: 'info',
      layer: null,
      code: 'target-plan',
      message: `${target.name}: ${[
        ...split.map((l) => `the softmax of ${l} is computed after its quantized logits (${l} gets a range of its own)`),
        ...fixed.map((a) => `${a.at} is on a fixed grid (${a.fixed!.why})`),
      ].join('; ')}.`,
      fix: 'Nothing to do: the run simulates what the exported file computes.',
    });
  }
  return out;
}
