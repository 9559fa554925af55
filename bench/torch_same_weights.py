"""torch.ao's PTQ cells on the studio's own float model (run with /usr/bin/python3).

The accuracy bench's PTQ cells compare two float models: each side trains its
own, and one draw of 2 epochs spreads over about 2 points, quantized cells
more (a W4A8 per-channel cell moved 2 points between two torch trainings of
the same initial weights). This reads the float model the studio trained
(bench/accuracy.ts writes its weights: every layer of the graph as stored, in
graph order) into the torch.ao peer's network for it and runs the peer's four
plain PTQ cells on it, calibrated on the same 1,000 train images as the
studio's runs and evaluated on the same test images, so the studio's
simulation and torch's int8 kernels are compared on the same weights and the
same data.

  python3 torch_same_weights.py <fashion-mnist dir> <weights.json>

Prints one JSON object: {float, w8a8_pt, w8a8_pc, w4a8_pt, w4a8_pc,
w4a8_pt_cle, w4a8_pt_cle_bc} (the last two: torch's _equalize and
_correct_bias on the same model, as the peer runs them). `float`
is the loaded model's own accuracy in torch: the studio's float figure when
the mapping below is right. When the file holds the studio's QAT settings
(`qat`: epochs and number of data orders), torch's QAT cells also run on the
same float model and add qat_w8a8_pc_drop and qat_w4a8_pc_drop (the median
change from that float over the orders). When the file also holds the studio's `start`
(its untrained model, each epoch's order of the train images, its steps and
Adam's ε), torch's training loop trains from there and adds start_float and
start_w8a8_pt ... start_w4a8_pc: the two trainers from one start and one
data order.

Mapping (Keras layouts to torch's): Dense kernels [in, out] transposed; the
CNN's first Dense reads a Flatten of NHWC, torch's of NCHW, so its rows are
permuted; Conv2D kernels HWIO -> OIHW, depthwise [kh, kw, C, 1] -> [C, 1, kh,
kw]; BatchNorm gamma, beta, moving mean and variance as they are (ε 1e-5 on
both sides: the bench's torch recipe). The depthwise net's stride-2 convs pad
as TF's 'same' does (bottom and right only), as the peer's net does too
(torch_peer.DwsepNet(tf_padding=True)).
"""
import json, sys
import numpy as np
import torch
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_accuracy_peer import CLE_PAIRS, NETS, Data, accuracy, ptq, qat, train


def tensor(w):
    return torch.from_numpy(np.asarray(w['values'], dtype=np.float32).reshape(w['shape']))


def conv_kernel(layer):
    k = tensor(layer['weights']['kernel'])
    return k.permute(2, 3, 0, 1).contiguous() if layer['op'] == 'depthwiseConv2d' else k.permute(3, 2, 0, 1).contiguous()


def load(name, layers):
    make, fuse = NETS[name]
    net = make()
    weighted = [l for l in layers if l['op'] in ('conv2d', 'depthwiseConv2d', 'dense')]
    norms = [l for l in layers if l['op'] == 'batchNorm']
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    studio_convs = [l for l in weighted if l['op'] != 'dense']
    studio_dense = [l for l in weighted if l['op'] == 'dense']
    if (len(convs), len(bns), len(linears)) != (len(studio_convs), len(norms), len(studio_dense)):
        raise SystemExit(f'{name}: the studio model has {len(studio_convs)} convs, {len(norms)} BatchNorms, {len(studio_dense)} Dense; torch\'s net {len(convs)}, {len(bns)}, {len(linears)}')
    with torch.no_grad():
        for m, l in zip(convs, studio_convs):
            m.weight.copy_(conv_kernel(l))
            if m.bias is not None:
                m.bias.copy_(tensor(l['weights']['bias']))
        for m, l in zip(bns, norms):
            w = l['weights']
            m.weight.copy_(tensor(w['gamma'])); m.bias.copy_(tensor(w['beta']))
            m.running_mean.copy_(tensor(w['movingMean'])); m.running_var.copy_(tensor(w['movingVariance']))
        for i, (m, l) in enumerate(zip(linears, studio_dense)):
            k = tensor(l['weights']['kernel'])  # [in, out]
            if name == 'cnn' and i == 0:  # Flatten of NHWC [7, 7, 64] -> torch's NCHW order
                k = k.reshape(7, 7, 64, -1).permute(2, 0, 1, 3).reshape(7 * 7 * 64, -1)
            m.weight.copy_(k.t()); m.bias.copy_(tensor(l['weights']['bias']))
    return net, fuse, CLE_PAIRS[name]


def main():
    root, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    torch.backends.quantized.engine = 'onednn'
    model = json.load(open(path))
    net, fuse, pairs = load(model['net'], model['layers'])
    data = Data(root)
    # The train images the studio's runs calibrated on, the test images they evaluated.
    data.calib = data.x[torch.tensor(model['calibration'], dtype=torch.long)]
    test = torch.tensor(model['test'], dtype=torch.long)
    data.tx, data.ty = data.tx[test], data.ty[test]
    out = {'float': accuracy(net, data)}
    for bits in (8, 4):
        for per_channel in (False, True):
            out[f'w{bits}a8_{"pc" if per_channel else "pt"}'] = ptq(net, fuse, data, bits, per_channel)[0]
    # The recovery rows the peer has: _equalize, then _correct_bias (dwsep: ReLU6 as ReLU, as the studio's relu6 'as-relu').
    relu6 = model['net'] == 'dwsep'
    out['w4a8_pt_cle'] = ptq(net, fuse, data, 4, False, pairs, relu6_to_relu=relu6)[0]
    try:
        out['w4a8_pt_cle_bc'] = ptq(net, fuse, data, 4, False, pairs, bias_correction=True, relu6_to_relu=relu6)[0]
    except Exception as e:  # torch's private bias correction: report why, keep the other cells
        out['w4a8_pt_cle_bc'] = f'n/a: {type(e).__name__}: {e}'
    if 'qat' in model:
        out.update(same_float_qat(model, net, fuse, data, out['float']))
    if 'start' in model:
        out.update(same_start(model, data))
    print(json.dumps(out))


def same_float_qat(model, net, fuse, data, float_accuracy):
    """The peer's QAT cells (per-channel W8A8 and W4A8) on the studio's float model, in as many data orders as the studio ran
    (torch's: 100 + 1000·k, as the peer's seed 0) of as many epochs: qat_w{8,4}a8_pc_drop, the median change from that float,
    beside the studio's own median over its orders on the same model."""
    q = model['qat']
    out = {}
    for bits in (8, 4):
        # The studio's epochs (its quick mode trains a fraction of one): torch's loop the same.
        changes = [qat(net, fuse, data, bits, 100 + 1000 * k, fraction=q['epochs']) - float_accuracy for k in range(q['orders'])]
        out[f'qat_w{bits}a8_pc_drop'] = float(np.median(changes))
        out[f'qat_w{bits}a8_pc_changes'] = changes
    return out


def same_start(model, data):
    """torch's training loop (the peer's: Adam, batch 64) from the studio's initial weights, taking the train images in the
    studio's order for the studio's number of steps, with the studio's Adam ε (1e-7, TensorFlow's; torch's default 1e-8
    alone moved a CNN trained so by 0.35 pt), so only the two implementations differ; then its float accuracy and four
    plain PTQ cells."""
    net = train_from_start(model, data)
    fuse = NETS[model['net']][1]
    out = {'start_float': accuracy(net, data)}
    for bits in (8, 4):
        for per_channel in (False, True):
            out[f'start_w{bits}a8_{"pc" if per_channel else "pt"}'] = ptq(net, fuse, data, bits, per_channel)[0]
    return out


def train_from_start(model, data, double=False):
    """torch's loop from the studio's start (`start` in the weights file) on the studio's batches for its steps, with its
    Adam ε; `double`: in float64, whose only difference is rounding (the net stays float64)."""
    start = model['start']
    if start['batchSize'] != 64:
        raise SystemExit(f'the studio trained with batch {start["batchSize"]}; the peer\'s loop takes 64')
    torch.manual_seed(0)
    net, _, _ = load(model['net'], start['layers'])
    images = data.x
    if double:
        net, data.x = net.double(), data.x.double()
    try:
        train(net, data, len(start['orders']), start['learningRate'], 0, orders=start['orders'], total_steps=start['steps'], eps=start['adamEpsilon'])
    finally:
        data.x = images
    return net


if __name__ == '__main__':
    main()
