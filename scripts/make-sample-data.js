#!/usr/bin/env node
// Writes the bundled sample dataset: a class-balanced subset of Fashion-MNIST
// from Debian's dataset-fashion-mnist package — from each of the train and
// t10k parts, the first 200 images of every class in file order (2,000 per
// part), kept in file order — as gzipped IDX files plus a README, in
// assets/sample/fashion-mnist/. Deterministic: the same input gives the same bytes.
// Needs a build first (npx tsc -p tsconfig.json).
//
// Usage: node scripts/make-sample-data.js [source-dir]
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { readIdx, encodeIdx } = await import(path.join(root, 'dist', 'src-main', 'io', 'data', 'idx.js'));

const SOURCE = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const OUT = path.join(root, 'assets', 'sample', 'fashion-mnist');
const PER_CLASS = 200;
const CLASSES = 10;

mkdirSync(OUT, { recursive: true });
const written = [];
const summary = [];
for (const part of ['train', 't10k']) {
  const images = readIdx(path.join(SOURCE, `${part}-images-idx3-ubyte.gz`));
  const labels = readIdx(path.join(SOURCE, `${part}-labels-idx1-ubyte.gz`));
  const [count, h, w] = images.dims;
  if (labels.dims[0] !== count) throw new Error(`${part}: ${count} images but ${labels.dims[0]} labels`);
  const taken = new Array(CLASSES).fill(0);
  const keep = [];
  for (let i = 0; i < count && keep.length < PER_CLASS * CLASSES; i++) {
    const y = labels.data[i];
    if (taken[y] < PER_CLASS) {
      taken[y]++;
      keep.push(i);
    }
  }
  if (taken.some((n) => n < PER_CLASS)) throw new Error(`${part}: not enough images of some class: ${taken.join(', ')}`);
  const size = h * w;
  const outImages = new Uint8Array(keep.length * size);
  const outLabels = new Uint8Array(keep.length);
  keep.forEach((src, k) => {
    outImages.set(images.data.subarray(src * size, (src + 1) * size), k * size);
    outLabels[k] = labels.data[src];
  });
  const files = [
    [`${part}-images-idx3-ubyte.gz`, encodeIdx({ dims: [keep.length, h, w], type: 'uint8', data: outImages })],
    [`${part}-labels-idx1-ubyte.gz`, encodeIdx({ dims: [keep.length], type: 'uint8', data: outLabels })],
  ];
  for (const [name, bytes] of files) {
    const file = path.join(OUT, name);
    writeFileSync(file, gzipSync(bytes, { level: 9 }));
    written.push(file);
  }
  summary.push({ part, count: keep.length, lastSourceIndex: keep[keep.length - 1], sourceCount: count });
}

const readme = `# Fashion-MNIST sample (2,000 + 2,000 images)

A small, class-balanced subset of Fashion-MNIST bundled with the studio so a
first PTQ or QAT run works without downloading anything.

| file | content |
|---|---|
| \`train-images-idx3-ubyte.gz\`, \`train-labels-idx1-ubyte.gz\` | 2,000 training images (28×28, uint8) and labels |
| \`t10k-images-idx3-ubyte.gz\`, \`t10k-labels-idx1-ubyte.gz\` | 2,000 test images and labels |

## Source

Fashion-MNIST by Zalando Research (https://github.com/zalandoresearch/fashion-mnist),
as shipped by the Debian package \`dataset-fashion-mnist\`
(\`/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz\`).

## How it was derived

\`scripts/make-sample-data.js\` takes, separately from the training part
(60,000 images) and the test part (t10k, 10,000 images), the first ${PER_CLASS} images of
each of the ${CLASSES} classes in file order, keeps them in their original order,
and writes them as gzipped IDX files (same format as the originals). Pixels
and labels are unchanged. ${summary.map((s) => `The last ${s.part} image used is number ${s.lastSourceIndex} (0-based) of ${s.sourceCount}.`).join(' ')}

Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

## License

The MIT License (MIT), Copyright © 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.
`;
writeFileSync(path.join(OUT, 'README.md'), readme);
written.push(path.join(OUT, 'README.md'));
let total = 0;
for (const f of written) {
  const size = statSync(f).size;
  total += size;
  console.log(`${path.relative(root, f)}  ${size} bytes`);
}
console.log(`total ${total} bytes`);
