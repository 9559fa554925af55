"""PyTorch torch.ao peer for `npm run bench -- scale` (run with /usr/bin/python3).

torchvision's quantizable MobileNetV2 (the same architecture as Keras's, at
the same width), eager mode, conv-BN-ReLU fused, the onednn engine,
per-channel symmetric int8 weights (PerChannelMinMaxObserver) and per-tensor
uint8 activations (MinMaxObserver) -- the studio's W8A8 per-channel minmax
config -- on the same 224x224 images the studio reads (a uint8 NPY file
[N, 224, 224, 3], scaled to [-1, 1] as Keras's MobileNetV2 preprocessing does):

  calibrate:   samples/s through the observers (batch 32), the forward loop
               alone (after one warm-up batch)
  calibrate_step: samples/s of the whole step a user waits for: prepare
               (observers inserted), the warm-up batch, the loop, convert
               (weights observed, quantized and packed)
  fq_eval:     samples/s of the fake-quant model (prepare_qat, observers off), eval mode
  int8_eval:   samples/s of the converted int8 model
  qat:         samples/s of QAT training steps (SGD, batch 16)
  peak_rss_mb: the process's peak resident memory

Usage: torch_scale_peer.py WIDTH NPY CALIB EVAL QAT_SAMPLES. Prints one JSON object.
Weights are random: throughput does not depend on them.
"""
import json, resource, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.ao.quantization as tq
from torchvision.models.quantization import mobilenet_v2

def batches(images, start, count, size):
    for i in range(start, start + count, size):
        b = np.asarray(images[i:min(i + size, start + count)], dtype=np.float32)
        yield torch.from_numpy(b / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()

def timed(fn, images, start, count, size):
    t = time.perf_counter(); n = 0
    for x in batches(images, start, count, size):
        fn(x); n += x.shape[0]
    return n / (time.perf_counter() - t)

def qconfig(qat):
    if qat:
        return tq.QConfig(
            activation=tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, dtype=torch.quint8),
            weight=tq.FakeQuantize.with_args(observer=tq.MovingAveragePerChannelMinMaxObserver, quant_min=-128, quant_max=127,
                                             dtype=torch.qint8, qscheme=torch.per_channel_symmetric))
    return tq.QConfig(activation=tq.MinMaxObserver.with_args(dtype=torch.quint8),
                      weight=tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))

def main():
    width, path, calib, evaln, qat_samples = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(2)
    torch.manual_seed(0)
    torch.backends.quantized.engine = 'onednn'
    images = np.load(path, mmap_mode='r')
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'engine': 'onednn', 'width': width}

    m = mobilenet_v2(weights=None, quantize=False, width_mult=width).eval()
    out['params'] = sum(p.numel() for p in m.parameters())
    m.fuse_model()
    m.qconfig = qconfig(False)
    step = time.perf_counter()
    tq.prepare(m, inplace=True)
    warm = next(iter(batches(images, 0, 32, 32)))
    with torch.no_grad():
        m(warm)
        out['calibrate_samples_per_s'] = timed(m, images, 0, calib, 32)
        q = tq.convert(m)
        out['calibrate_step_samples_per_s'] = calib / (time.perf_counter() - step)
        q(warm)
        out['int8_eval_samples_per_s'] = timed(q, images, calib, evaln, 32)

    f = mobilenet_v2(weights=None, quantize=False, width_mult=width).train()
    f.fuse_model(is_qat=True)
    f.qconfig = qconfig(True)
    tq.prepare_qat(f, inplace=True)
    opt = torch.optim.SGD(f.parameters(), 1e-3, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    labels = torch.zeros(16, dtype=torch.long)
    def step(x):
        opt.zero_grad(); loss_fn(f(x), labels[:x.shape[0]]).backward(); opt.step()
    step(next(iter(batches(images, 0, 16, 16))))  # warm-up
    out['qat_samples_per_s'] = timed(step, images, 0, qat_samples, 16)

    f.eval()
    f.apply(tq.disable_observer)
    with torch.no_grad():
        f(warm)
        out['fq_eval_samples_per_s'] = timed(f, images, calib, evaln, 32)
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))

if __name__ == '__main__':
    main()
