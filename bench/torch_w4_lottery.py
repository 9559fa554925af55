"""How much of a 4-bit per-channel cell is the draw of its rounding grid (run with /usr/bin/python3).

  python3 torch_w4_lottery.py <fashion-mnist dir> <weights.json>

Reads the float model the studio trained and its start (bench/torch-same-weights.ts
writes both), trains torch's loop from that start on the same batches (as
torch_same_weights.py does), and then, on each of the two models, quantizes
one weighted layer at a time to 4 bits per channel (symmetric, narrow range
[-7, 7], TF's half-up rounding, BatchNorm folded first as torch's fuse does;
activations and the other layers float) with each channel's scale multiplied
by a factor from 0.94 to 1.06. A factor of 1 is the minmax scale the PTQ
cells use; the others move every channel's grid by a few percent, which no
one would call a different quantizer. Their mean is the layer's expected
drop, apart from the draw of where the grid happens to fall.

Torch's loop also trains the same start in float64 (then read back as
float32): a third model whose only difference from torch's is rounding, so
its paired difference from torch's is how far two models of the same math
fall apart (BENCH_LOTTERY_FLOAT64=0 skips it).

Each model also runs the accuracy bench's whole W4A8 per-tensor and
per-channel PTQ cells on torch's int8 kernels (torch_accuracy_peer.ptq:
every layer, activations at 8 bits, 1,000 calibration images): the cells
the accuracy table compares, here on three trainings from one start.

Prints one JSON object: {studio: {float, cells: {w4a8_pt, w4a8_pc}, layers: {name: {at1, mean, by: {factor: accuracy}}}}, torch: {...}[, float64: {...}]}.
"""
import copy, json, os, sys
import torch
import torch.ao.quantization as tq
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_accuracy_peer import Data, accuracy, ptq
from torch_same_weights import load, train_from_start

FACTORS = (0.94, 0.96, 0.98, 0.99, 1.0, 1.01, 1.02, 1.04, 1.06)


def fake_quant_per_channel(w, bits, factor):
    """Symmetric narrow-range per-output-channel fake quant, minmax scale times `factor`, TF's round half up."""
    q = 2 ** (bits - 1) - 1
    amax = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True)
    s = torch.where(amax > 0, amax / q * factor, torch.ones_like(amax))
    return torch.clamp(torch.floor(w / s + 0.5), -q, q) * s


def weighted(module):
    """The fused model's Conv2d / Linear layers by name (a fused ConvReLU's conv is its first child)."""
    out = {}
    for name, m in module.named_modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            out[name.removesuffix('.0')] = m
    return out


def lottery(net, fuse, data):
    fused = tq.fuse_modules(copy.deepcopy(net).eval(), fuse)
    out = {'float': accuracy(fused, data), 'layers': {}}
    out['cells'] = {f'w4a8_{g}': ptq(net, fuse, data, 4, g == 'pc')[0] for g in ('pt', 'pc')}
    for name, m in weighted(fused).items():
        w = m.weight.data.clone()
        by = {}
        for f in FACTORS:
            m.weight.data = fake_quant_per_channel(w, 4, f)
            by[str(f)] = accuracy(fused, data)
        m.weight.data = w
        values = list(by.values())
        out['layers'][name] = {'at1': by['1.0'], 'mean': sum(values) / len(values), 'by': by}
    return out


def main():
    root, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    model = json.load(open(path))
    data = Data(root)
    test = torch.tensor(model['test'], dtype=torch.long)
    data.tx, data.ty = data.tx[test], data.ty[test]
    studio, fuse, _ = load(model['net'], model['layers'])
    out = {'studio': lottery(studio, fuse, data), 'torch': lottery(train_from_start(model, data), fuse, data)}
    if os.environ.get('BENCH_LOTTERY_FLOAT64') != '0':
        out['float64'] = lottery(train_from_start(model, data, double=True).float(), fuse, data)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
