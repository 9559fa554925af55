/**
 * `npm run bench`: every speed and quality target, printed as figures (never
 * asserted in tests). Sections can be picked: `npm run bench -- ptq compare`.
 * Writes the figures to bench-results.json as well.
 */
import { writeFileSync } from 'node:fs';
import { initBackend } from '../src-main/engine/backend.js';
import { benchPtq, torchPeer } from './ptq.js';
import { benchObservers } from './observers.js';
import { benchCompare } from './compare.js';
import { benchGraph } from './graph.js';
import { benchQat } from './qat.js';
import { benchJob } from './job.js';
import { benchScale } from './scale.js';
import { benchAccuracy } from './accuracy.js';
import { benchLottery } from './w4-lottery.js';
import { benchTrainer } from './trainer-agreement.js';

type Section = (peer: Record<string, number | string> | null) => Promise<Record<string, number>>;

const sections: Record<string, Section> = {
  ptq: (peer) => benchPtq(peer),
  job: () => benchJob(),
  scale: () => benchScale(),
  observers: () => benchObservers(),
  qat: (peer) => benchQat(peer),
  compare: () => benchCompare(),
  graph: () => benchGraph(),
  accuracy: () => benchAccuracy(),
  lottery: () => benchLottery(),
  trainer: () => benchTrainer(),
};

async function main(): Promise<void> {
  const picked = process.argv.slice(2).filter((a) => a in sections);
  // `accuracy` (about 40 minutes of training), `lottery` (about 75, 35 without its float64 run) and `trainer` (about 1) run only when named.
  const namedOnly = new Set(['accuracy', 'lottery', 'trainer']);
  const names = picked.length > 0 ? picked : Object.keys(sections).filter((n) => !namedOnly.has(n));
  const backend = await initBackend('auto');
  console.log(`backend: ${backend.name}${backend.fallbacks.length ? ` (not ${backend.fallbacks.map((f) => `${f.name}: ${f.reason}`).join('; ')})` : ''}`);
  const needsPeer = names.some((n) => n === 'ptq' || n === 'qat');
  const peer = needsPeer ? torchPeer() : null;
  if (peer) console.log(`torch.ao peer: ${JSON.stringify(peer)}`);
  const all: Record<string, unknown> = { backend: backend.name, peer };
  for (const name of names) {
    console.log(`\n== ${name} ==`);
    try {
      all[name] = await sections[name]!(peer);
    } catch (err) {
      console.log(`  ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
      all[name] = { error: String(err) };
    }
  }
  writeFileSync('bench-results.json', JSON.stringify(all, null, 2));
  console.log('\nfigures written to bench-results.json');
}

await main();
