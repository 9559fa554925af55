// The comparison report: CSV quoting (RFC 4180), one CSV line per tensor and
// per channel, and the HTML page self-contained (no script, no outside
// reference) with the run names escaped and the charts as data URLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompareRun, ExportRecord, RunChannels, TensorRecord } from '../../../../src-main/api/contract.js';
import { csvField, escapeHtml, perChannelCsv, perLayerCsv, reportHtml } from '../../../../src-renderer/lib/data/report.js';
import { config, run } from './fixtures.js';

function tensor(layer: string, role: string, sqnr: number, extra: Partial<TensorRecord> = {}): TensorRecord {
  return { layer, role, granularity: 'per-tensor', axis: null, bits: 8, symmetric: true, narrowRange: true, channels: 1, min: -1, max: 1, scale: 2 / 254, zeroPoint: 128, sqnr, clipRate: 0.001, ...extra };
}

function compareRun(id: number, name: string, granularity: 'per-tensor' | 'per-channel'): CompareRun {
  return {
    ...run(id, { name, config: config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity } }) }),
    tensors: [tensor('conv', 'weight', granularity === 'per-channel' ? 44 : 30, { granularity, channels: 3 }), tensor('conv', 'activation', 35), tensor('dense', 'weight', 40)],
    lint: [],
    summary: {},
    curvePoints: 0,
  };
}

test('CSV fields: commas, quotes and line breaks quoted, quotes doubled, non-finite numbers empty', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(0.25), '0.25');
  assert.equal(csvField(NaN), '');
  assert.equal(csvField(null), '');
  assert.equal(csvField(true), 'true');
});

test('per-layer CSV: a header and one line per tensor of each run; per-channel CSV: one line per channel of per-channel runs only', () => {
  const runs = [compareRun(1, 'per,tensor', 'per-tensor'), compareRun(2, 'per_channel', 'per-channel')];
  const layers = perLayerCsv(runs).trimEnd().split('\r\n');
  assert.equal(layers.length, 1 + 3 + 3);
  assert.equal(layers[0], 'run_id,run_name,layer,role,granularity,bits,symmetric,narrow_range,channels,min,max,scale,zero_point,sqnr_db,clip_rate');
  assert.ok(layers[1]!.startsWith('1,"per,tensor",conv,weight,per-tensor,8,true,true,3,-1,1,'));
  const channels = new Map<string, RunChannels[]>([
    ['conv', [{ runId: 1, channels: null }, { runId: 2, channels: { min: [-1, -0.5, -0.1], max: [1, 0.5, 0.1], scale: [1 / 127, 0.5 / 127, 0.1 / 127], zeroPoint: [128, 128, 128], sqnr: [44, 45, 46] } }]],
  ]);
  const lines = perChannelCsv(runs, channels).trimEnd().split('\r\n');
  assert.equal(lines.length, 1 + 3);
  assert.equal(lines[2], `2,per_channel,conv,1,-0.5,0.5,${0.5 / 127},128,45`);
});

test('the HTML report is one self-contained page: tables, configs, verification, charts as data URLs, names escaped', () => {
  const runs = [compareRun(1, '<b>per-tensor</b>', 'per-tensor'), compareRun(2, 'per_channel', 'per-channel')];
  const onnx: ExportRecord = {
    id: 5,
    runId: 2,
    format: 'onnx',
    path: '/tmp/run2.onnx',
    size: 1234,
    sha256: 'x',
    verification: { runtime: 'onnxruntime-node 1.30', count: 2000, runtimeAccuracy: 0.8965, simulationAccuracy: 0.897, agreement: 0.9995, maxAbsDiff: 0.004, passed: true },
    audit: { ok: true, problems: [] },
    createdAt: '2026-12-02T10:00:00Z',
  };
  const png = 'data:image/png;base64,iVBORw0KGgo=';
  const html = reportHtml({ runs, exports: new Map([[2, [onnx]]]), charts: [{ title: 'Weight SQNR per layer', dataUrl: png }], generatedAt: '2026-12-02T10:00:00Z' });
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok(!/<script/i.test(html), 'no script');
  assert.ok(!/(src|href)="(?!data:)/i.test(html), 'no outside reference');
  assert.ok(html.includes('&lt;b&gt;per-tensor&lt;/b&gt;') && !html.includes('<b>per-tensor</b>'));
  assert.ok(html.includes(`<img alt="Weight SQNR per layer" src="${png}">`));
  assert.ok(html.includes('<td>Weights granularity</td><td>per-tensor</td><td>per-channel</td>'));
  assert.ok(html.includes('89.65 % in onnxruntime-node 1.30'));
  assert.ok(html.includes('<td>2000</td>'));
  assert.ok(html.includes('Weights: 8-bit'), 'the configs in words');
  assert.equal(escapeHtml(`"'&<>`), '&quot;&#39;&amp;&lt;&gt;');
});
