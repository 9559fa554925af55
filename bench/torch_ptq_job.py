"""The PTQ job a studio user waits for, done with torch.ao as one process
(run with /usr/bin/python3; timed from outside by bench/job.ts):

  read Fashion-MNIST (IDX .gz), build the studio's fashion_cnn architecture,
  fuse conv-BN-ReLU, calibrate per-channel symmetric int8 weights / per-tensor
  uint8 activations (MinMax) on 1,000 train images, convert to int8, and
  evaluate the float and the int8 model on the 10,000 test images.

Weights are random (the studio's are trained): the work is the same. Prints
one JSON object with both accuracies and the in-process seconds.
"""
import sys, time
t0 = time.perf_counter()
import json
import numpy as np
import torch
import torch.ao.quantization as tq
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_peer import FUSE, Net, load_idx, qconfig

def main():
    root = sys.argv[1] if len(sys.argv) > 1 else '/usr/share/datasets/fashion-mnist'
    torch.set_num_threads(2)
    torch.manual_seed(0)
    torch.backends.quantized.engine = 'onednn'
    train = load_idx(f'{root}/train-images-idx3-ubyte.gz')
    test = torch.from_numpy(load_idx(f'{root}/t10k-images-idx3-ubyte.gz').astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(load_idx(f'{root}/t10k-labels-idx1-ubyte.gz').astype(np.int64))
    calib = torch.from_numpy(train[np.random.default_rng(0).choice(len(train), 1000, replace=False)].astype(np.float32) / 255.0).unsqueeze(1)
    model = tq.fuse_modules(Net().eval(), FUSE)

    def accuracy(m):
        correct = 0
        with torch.no_grad():
            for i in range(0, len(test), 256):
                correct += (m(test[i:i + 256]).argmax(1) == labels[i:i + 256]).sum().item()
        return correct / len(test)

    float_acc = accuracy(model)
    model.qconfig = qconfig(False)
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        for i in range(0, 1000, 100):
            model(calib[i:i + 100])
    q = tq.convert(model)
    print(json.dumps({'float': float_acc, 'int8': accuracy(q), 'seconds': time.perf_counter() - t0}))

if __name__ == '__main__':
    main()
