"""PyTorch torch.ao peer for the studio's benchmarks (run with /usr/bin/python3).

Same network as the studio's fashion_cnn (conv32-BN-ReLU-pool, conv64-BN-ReLU-
pool, dense128, dense10) on the same Fashion-MNIST IDX files, measured on the
same machine:
  calibrate: samples/s through eager-mode PTQ observers (per-channel MinMax
             weights, per-tensor MinMax activations, conv-BN-ReLU fused) --
             the studio's minmax per-channel config;
  train / qat: samples/s of float training and of QAT (FakeQuantize with the
             same observers), Adam, batch 64;
  dwsep_train / dwsep_qat: the same for the studio's fashion_dwsep
             (depthwise-separable, ReLU6), conv-BN fused.
Prints one JSON object.  BENCH_THREADS sets torch's threads (default 2).  Weights are random: throughput does not depend on them.
"""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.ao.quantization as tq

def load_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.c1, self.b1, self.r1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU()
        self.c2, self.b2, self.r2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.r3 = nn.Linear(7 * 7 * 64, 128), nn.ReLU()
        self.fc2 = nn.Linear(128, 10)
        self.dequant = tq.DeQuantStub()
    def forward(self, x):
        x = self.quant(x)
        x = self.pool(self.r1(self.b1(self.c1(x))))
        x = self.pool(self.r2(self.b2(self.c2(x))))
        x = torch.flatten(x, 1)
        x = self.fc2(self.r3(self.fc1(x)))
        return self.dequant(x)

FUSE = [['c1', 'b1', 'r1'], ['c2', 'b2', 'r2'], ['fc1', 'r3']]

class DwsepNet(nn.Module):
    """The studio's fashion_dwsep: stride-2 conv16, three depthwise + pointwise blocks (32, 64 s2, 64),
    each conv bias-free with BN and ReLU6, global average pooling, dense 10. With tf_padding its stride-2
    convs pad as TF's 'same' does (one row and column of zeros after, none before: the studio's network
    layer for layer); without, torch's padding=1 (both sides)."""
    def __init__(self, tf_padding=False):
        super().__init__()
        self.quant = tq.QuantStub()
        pad = lambda stride: 0 if tf_padding and stride == 2 else 1
        layers = [nn.Conv2d(1, 16, 3, stride=2, padding=pad(2), bias=False), nn.BatchNorm2d(16), nn.ReLU6()]
        cin = 16
        for cout, stride in [(32, 1), (64, 2), (64, 1)]:
            layers += [nn.Conv2d(cin, cin, 3, stride=stride, padding=pad(stride), groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
                       nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6()]
            cin = cout
        self.features = nn.Sequential(*layers)
        # The layers TF's padding goes before (by index: fusing keeps the Sequential's positions).
        self.padded = {i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.stride == (2, 2)} if tf_padding else set()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)
        self.dequant = tq.DeQuantStub()
    def forward(self, x):
        x = self.quant(x)
        for i, m in enumerate(self.features):
            x = m(F.pad(x, (0, 1, 0, 1)) if i in self.padded else x)
        return self.dequant(self.fc(torch.flatten(self.pool(x), 1)))

# Conv + BN pairs (ReLU6 has no fused QAT module in torch.ao; it stays a module of its own).
DWSEP_FUSE = [[f'features.{i}', f'features.{i + 1}'] for i in range(0, 21, 3)]

def qconfig(qat):
    act = tq.MinMaxObserver.with_args(dtype=torch.quint8)
    wt = tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    if qat:
        return tq.QConfig(activation=tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, dtype=torch.quint8),
                          weight=tq.FakeQuantize.with_args(observer=tq.MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                                           dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    return tq.QConfig(activation=act, weight=wt)

def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/datasets/fashion-mnist'
    torch.set_num_threads(int(os.environ.get('BENCH_THREADS', '2')))
    torch.manual_seed(0)
    x = torch.from_numpy(load_idx(f'{root}/train-images-idx3-ubyte.gz')[:6400].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(load_idx(f'{root}/train-labels-idx1-ubyte.gz')[:6400].astype(np.int64))
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads()}

    # PTQ calibration throughput.
    m = Net().eval()
    m = tq.fuse_modules(m, FUSE)
    m.qconfig = qconfig(False)
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        for i in range(0, 1000, 100):  # warm-up
            m(x[i:i + 100])
        t = time.perf_counter(); n = 0
        for i in range(0, 6400, 100):
            m(x[i:i + 100]); n += 100
        out['calibrate_samples_per_s'] = n / (time.perf_counter() - t)

    def train(model, steps_samples):
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        loss_fn = nn.CrossEntropyLoss()
        model.train()
        for i in range(0, 640, 64):  # warm-up
            opt.zero_grad(); loss_fn(model(x[i:i + 64]), y[i:i + 64]).backward(); opt.step()
        t = time.perf_counter(); n = 0
        for i in range(0, steps_samples, 64):
            opt.zero_grad(); loss_fn(model(x[i:i + 64]), y[i:i + 64]).backward(); opt.step(); n += 64
        return n / (time.perf_counter() - t)

    out['train_samples_per_s'] = train(Net(), 3200)
    q = Net().train()
    q = tq.fuse_modules_qat(q, FUSE)
    q.qconfig = qconfig(True)
    tq.prepare_qat(q, inplace=True)
    out['qat_samples_per_s'] = train(q, 3200)

    # The depthwise-separable peer of fashion_dwsep, float and QAT (conv-BN fused, per-channel weights).
    out['dwsep_train_samples_per_s'] = train(DwsepNet(), 3200)
    d = DwsepNet().train()
    d = tq.fuse_modules_qat(d, DWSEP_FUSE)
    d.qconfig = qconfig(True)
    tq.prepare_qat(d, inplace=True)
    out['dwsep_qat_samples_per_s'] = train(d, 3200)
    print(json.dumps(out))

if __name__ == '__main__':
    main()
