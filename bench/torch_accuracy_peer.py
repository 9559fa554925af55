"""torch.ao peer of `npm run bench -- accuracy` (run with /usr/bin/python3).

The same cells as bench/accuracy.ts, with torch.ao eager mode, for the three
networks (the MLP 784-256-128-10, the studio's fashion_cnn and fashion_dwsep,
layer for layer; bench/torch_peer.py holds the two convnets, with torch's
default initial weights and BatchNorm settings, which the studio side starts
from too: bench/peer-recipe-model.ts):
  float     2 epochs, Adam 1e-3, batch 64, the 60k train set shuffled each epoch;
  PTQ       fuse (conv-BN(-ReLU), linear-ReLU), prepare, calibrate on 1,000 train
            images (MinMax: per-tensor uint8 activations; symmetric weights
            in [-127, 127] at 8 bits, [-7, 7] at 4 bits, per-tensor or
            per-channel), convert, evaluate the int8 model on the 10k test set;
  QAT       fuse_modules_qat, prepare_qat (torch's default QAT fake quants:
            moving-average min/max, averaging constant 0.01, per-channel
            weights), 1 epoch Adam 1e-4, BN statistics frozen after step 200,
            convert, evaluate;
  fine-tune the float model trained 1 more epoch with Adam 1e-4 (the QAT
            control: as much training, no fake quantization);
  CLE       torch.ao.quantization._equalize on the fused float model (pairs
            through ReLU only: its convergence test and its scale, as the
            studio's; dwsep: ReLU6 replaced by ReLU, as the studio's
            `relu6: as-relu`, and only depthwise -> pointwise pairs, since
            _equalize takes a depthwise's input axis as 1 wide);
  CLE + BC  then torch.ao.quantization._correct_bias (empirical: the mean
            output error of each quantized Linear/Conv2d on the calibration
            images, through the numeric suite's shadow modules).
Prints one JSON object: {torch, threads, engine, quick, seeds, nets: {mlp|cnn|dwsep: {cell: accuracy}}}.
BENCH_ACCURACY_QUICK=1 trains a twentieth of each epoch and evaluates 2,000
test images (checks the harness, not the figures). BENCH_ACCURACY_NETS=cnn,dwsep
picks networks. BENCH_THREADS sets torch's threads (default 2).
BENCH_ACCURACY_SEEDS=N trains the float cell with seeds 0..N-1 (initial
weights and data order) and reports the median as `float`, with float_min,
float_max and float_seed0; every other cell starts from seed 0's model, and
the four plain PTQ cells also run on every seed's model: `<cell>_drop` is the
median of each seed's drop from its own float (`<cell>_drop_draws`, and
`float_draws`: each seed's figure). BENCH_ACCURACY_QAT_ORDERS=K
(default 3) runs each seed's QAT cells in K data orders (seed + 100 + 1000·k):
`qat_w{8,4}a8_pc_drop` is the median change over seeds and orders
(`qat_w{8,4}a8_pc_changes`: each, by seed).
"""
import copy, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.ao.quantization as tq
import torch.nn.intrinsic.qat as nniqat
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_peer import DWSEP_FUSE, FUSE as CNN_FUSE, DwsepNet, Net as CnnNet, load_idx

QUICK = os.environ.get('BENCH_ACCURACY_QUICK') == '1'
EPOCH_FRACTION = 0.05 if QUICK else 1.0
CALIBRATION = 1000
BN_FREEZE_STEP = 200
SEEDS = max(1, int(os.environ.get('BENCH_ACCURACY_SEEDS', '1') or 1))
QAT_ORDERS = max(1, int(os.environ.get('BENCH_ACCURACY_QAT_ORDERS', '3') or 1))


class Mlp(nn.Module):
    """The studio's dense_784_256_128_10: Dense 256 ReLU, Dense 128 ReLU, Dense 10 (softmax in the loss)."""
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.fc1, self.r1 = nn.Linear(784, 256), nn.ReLU()
        self.fc2, self.r2 = nn.Linear(256, 128), nn.ReLU()
        self.fc3 = nn.Linear(128, 10)
        self.dequant = tq.DeQuantStub()
    def forward(self, x):
        x = self.quant(torch.flatten(x, 1))
        return self.dequant(self.fc3(self.r2(self.fc2(self.r1(self.fc1(x))))))

MLP_FUSE = [['fc1', 'r1'], ['fc2', 'r2']]
# dwsep with TF's stride-2 'same' padding, as the studio's network (torch's symmetric padding=1 moved its W4A8 per-channel
# drop from -7.04 to -4.23 pt, median of 3 seeds, same initial weights and data orders: an architecture apart, not a quantizer).
NETS = {'mlp': (Mlp, MLP_FUSE), 'cnn': (CnnNet, CNN_FUSE), 'dwsep': (lambda: DwsepNet(tf_padding=True), DWSEP_FUSE)}
# CLE pairs by module name after fusing (Linear/Conv2d or their fused ReLU forms).
CLE_PAIRS = {
    'mlp': [['fc1', 'fc2'], ['fc2', 'fc3']],
    'cnn': [['c1', 'c2'], ['fc1', 'fc2']],  # c2 -> fc1 crosses a Flatten (64 channels -> 3,136 inputs): _equalize cannot
    'dwsep': [[f'features.{i}', f'features.{i + 3}'] for i in (3, 9, 15)],  # depthwise -> pointwise
}


def weight_bits_range(bits):
    return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1


def ptq_qconfig(bits, per_channel):
    lo, hi = weight_bits_range(bits)
    act = tq.MinMaxObserver.with_args(dtype=torch.quint8)
    if per_channel:
        wt = tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=lo, quant_max=hi)
    else:
        wt = tq.MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, quant_min=lo, quant_max=hi)
    return tq.QConfig(activation=act, weight=wt)


def qat_qconfig(bits):
    lo, hi = weight_bits_range(bits)
    return tq.QConfig(
        activation=tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, dtype=torch.quint8),
        weight=tq.FakeQuantize.with_args(observer=tq.MovingAveragePerChannelMinMaxObserver, quant_min=lo, quant_max=hi,
                                         dtype=torch.qint8, qscheme=torch.per_channel_symmetric))


class Data:
    def __init__(self, root):
        f = lambda name: load_idx(f'{root}/{name}')
        self.x = torch.from_numpy(f('train-images-idx3-ubyte.gz').astype(np.float32) / 255.0).unsqueeze(1)
        self.y = torch.from_numpy(f('train-labels-idx1-ubyte.gz').astype(np.int64))
        tx = torch.from_numpy(f('t10k-images-idx3-ubyte.gz').astype(np.float32) / 255.0).unsqueeze(1)
        ty = torch.from_numpy(f('t10k-labels-idx1-ubyte.gz').astype(np.int64))
        n = 2000 if QUICK else len(ty)
        self.tx, self.ty = tx[:n], ty[:n]
        self.calib = self.x[np.random.default_rng(0).choice(len(self.x), CALIBRATION, replace=False)]


def accuracy(model, data):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data.ty), 500):
            correct += (model(data.tx[i:i + 500]).argmax(1) == data.ty[i:i + 500]).sum().item()
    return correct / len(data.ty)


def train(model, data, epochs, lr, seed, on_step=None, orders=None, total_steps=None, eps=1e-8, fraction=None):
    """Adam (ε torch's default 1e-8), batch 64, the train set shuffled each epoch (torch.randperm seeded with seed + epoch); a fraction of an epoch in quick mode (`fraction`: another fraction, e.g. the studio's QAT epochs).
    With `orders` (one permutation of the train images per epoch) and `total_steps`: those orders and that many steps instead (the studio's, for the same-start rows)."""
    opt = torch.optim.Adam(model.parameters(), lr, eps=eps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    step = 0
    for epoch in range(epochs):
        if orders is None:
            order = torch.randperm(len(data.y), generator=torch.Generator().manual_seed(seed + epoch))
            steps = int(np.ceil(len(order) / 64 * (EPOCH_FRACTION if fraction is None else fraction)))
        else:
            order = torch.as_tensor(orders[epoch], dtype=torch.long)
            steps = min(int(np.ceil(len(order) / 64)), total_steps - step)
        for k in range(steps):
            idx = order[k * 64:(k + 1) * 64]
            if on_step:
                on_step(step)
            opt.zero_grad()
            loss_fn(model(data.x[idx]), data.y[idx]).backward()
            opt.step()
            step += 1
    return model


def calibrate(model, data):
    with torch.no_grad():
        for i in range(0, CALIBRATION, 100):
            model(data.calib[i:i + 100])


def relu6_as_relu(model):
    for name, m in model.named_children():
        if isinstance(m, nn.ReLU6):
            setattr(model, name, nn.ReLU())
        else:
            relu6_as_relu(m)
    return model


def ptq(float_model, fuse, data, bits, per_channel, cle_pairs=None, bias_correction=False, relu6_to_relu=False):
    m = copy.deepcopy(float_model).eval()
    if relu6_to_relu:
        relu6_as_relu(m)
    m = tq.fuse_modules(m, fuse)
    if cle_pairs:
        from torch.ao.quantization._equalize import equalize
        equalize(m, cle_pairs, threshold=1e-4, inplace=True)
    reference = copy.deepcopy(m)
    m.qconfig = ptq_qconfig(bits, per_channel)
    tq.prepare(m, inplace=True)
    calibrate(m, data)
    q = tq.convert(m)
    if bias_correction:
        from torch.ao.quantization._correct_bias import bias_correction as correct
        correct(reference, q, [(data.calib[i:i + 100],) for i in range(0, CALIBRATION, 100)])
    return accuracy(q, data), (accuracy(reference, data) if relu6_to_relu else None)


def qat(float_model, fuse, data, bits, seed, fraction=None):
    m = copy.deepcopy(float_model).train()
    m = tq.fuse_modules_qat(m, fuse)
    m.qconfig = qat_qconfig(bits)
    tq.prepare_qat(m, inplace=True)
    def freeze(step):
        if step == BN_FREEZE_STEP:
            m.apply(nniqat.freeze_bn_stats)
    train(m, data, 1, 1e-4, seed, freeze, fraction=fraction)
    return accuracy(tq.convert(m.eval()), data)


def seed_figures(accuracies):
    """The float cell over seeds: the median (what the target compares); with several seeds also the range and seed 0's figure. As bench/accuracy.ts's seedFigures."""
    if len(accuracies) == 1:
        return {'float': accuracies[0]}
    return {'float': float(np.median(accuracies)), 'float_min': min(accuracies), 'float_max': max(accuracies), 'float_seed0': accuracies[0]}


def float_models(make, data, seeds):
    """Trains the float net once per seed (torch.manual_seed(seed) draws the initial weights); returns the models, their accuracies and the seconds of seed 0."""
    models, accuracies, seconds = [], [], 0.0
    for seed in range(seeds):
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        models.append(train(make(), data, 2, 1e-3, seed))
        accuracies.append(accuracy(models[-1], data))
        if seed == 0:
            seconds = time.perf_counter() - t0
    return models, accuracies, seconds


def bench_net(name, data):
    make, fuse = NETS[name]
    t0 = time.perf_counter()
    models, floats, train_seconds = float_models(make, data, SEEDS)
    model = models[0]
    out = {**seed_figures(floats), 'train_seconds': train_seconds}
    if len(floats) > 1:
        out['float_draws'] = floats  # each seed's float: bench/accuracy.ts's permutation test of the median rows
    seed = 0  # the cells below start from seed 0's model and its seeds
    for bits in (8, 4):
        for per_channel in (False, True):
            key = f'w{bits}a8_{"pc" if per_channel else "pt"}'
            # Seed 0's cell, and with several seeds each seed's drop from its own float model (median: as bench/accuracy.ts).
            cells = [ptq(m, fuse, data, bits, per_channel)[0] for m in models]
            out[key] = cells[0]
            if len(models) > 1:
                out[f'{key}_drop_draws'] = [c - f for c, f in zip(cells, floats)]
                out[f'{key}_drop'] = float(np.median(out[f'{key}_drop_draws']))
    relu6 = name == 'dwsep'
    cle, cle_float = ptq(model, fuse, data, 4, False, CLE_PAIRS[name], relu6_to_relu=relu6)
    out['w4a8_pt_cle'] = cle
    if cle_float is not None:
        out['float_relu'] = cle_float
    try:
        out['w4a8_pt_cle_bc'], _ = ptq(model, fuse, data, 4, False, CLE_PAIRS[name], bias_correction=True, relu6_to_relu=relu6)
    except Exception as e:  # torch's private bias correction: report why, keep the other cells
        out['w4a8_pt_cle_bc'] = f'n/a: {type(e).__name__}: {e}'
    for bits in (8, 4):
        # Seed 0's cell, and each seed's QAT from its own float model in QAT_ORDERS data orders (seed + 100 + 1000·k): the median
        # change from its float over all, as bench/accuracy.ts (one QAT run is one draw of a chaotic path).
        cells = [[qat(m, fuse, data, bits, s + 100 + 1000 * k) for k in range(QAT_ORDERS)] for s, m in enumerate(models)]
        changes = [[c - floats[s] for c in row] for s, row in enumerate(cells)]
        out[f'qat_w{bits}a8_pc'] = cells[0][0]
        if len(models) * QAT_ORDERS > 1:
            out[f'qat_w{bits}a8_pc_drop'] = float(np.median(changes))
            out[f'qat_w{bits}a8_pc_changes'] = changes
    out['finetune'] = accuracy(train(copy.deepcopy(model), data, 1, 1e-4, seed + 100), data)
    out['seconds'] = time.perf_counter() - t0
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/datasets/fashion-mnist'
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    torch.backends.quantized.engine = 'onednn'
    data = Data(root)
    picked = [n for n in os.environ.get('BENCH_ACCURACY_NETS', 'mlp,cnn,dwsep').split(',') if n]
    nets = {}
    for name in picked:
        nets[name] = bench_net(name, data)
        print(f'{name}: {json.dumps(nets[name])}', file=sys.stderr, flush=True)
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'engine': torch.backends.quantized.engine, 'quick': QUICK, 'seeds': SEEDS, 'nets': nets}))


if __name__ == '__main__':
    main()
