"""Do the studio's trainer and torch's take the same steps? (run with /usr/bin/python3)

  python3 torch_trainer_agreement.py <fashion-mnist dir> <weights.json>

Reads what bench/trainer-agreement.ts writes: the studio's untrained model and
its data order (`start`), and the model after the studio trained it for
start.steps steps. Trains torch's loop (the accuracy peer's: Adam, batch 64,
the studio's ε) from the same start on the same batches twice: in float32 as
the peer does, and in float64, whose only difference is rounding. For every
parameter it prints how far the studio's and the float64 run's weights lie
from torch's float32 ones, relative to how far torch's float32 run moved that
parameter from the start. If the studio does the same math as torch, the
first figure is as small as the second: both are rounding, grown by the
steps.

Prints one JSON object: {steps, params: {name: {studio, float64, moved}}};
`moved` is false for a parameter that the float64 run barely moves (a conv
bias before BatchNorm: its gradient is zero in exact arithmetic, so in
float32 it wanders on rounding alone).
"""
import json, sys
import torch
sys.path.insert(0, __file__.rsplit('/', 1)[0])
from torch_accuracy_peer import Data
from torch_same_weights import load, train_from_start


def weights(net):
    return {k: v.double() for k, v in net.state_dict().items() if v.is_floating_point()}


def main():
    root, path = sys.argv[1], sys.argv[2]
    torch.set_num_threads(2)
    model = json.load(open(path))
    data = Data(root)
    begin = weights(load(model['net'], model['start']['layers'])[0])
    studio = weights(load(model['net'], model['layers'])[0])
    f32 = weights(train_from_start(model, data))
    f64 = weights(train_from_start(model, data, double=True))
    params = {}
    for k, w in f32.items():
        moved = (w - begin[k]).norm().item()
        rel = lambda other: (other[k] - w).norm().item() / moved if moved > 0 else 0.0
        params[k] = {'studio': rel(studio), 'float64': rel(f64), 'moved': (f64[k] - begin[k]).norm().item() > 1e-3 * moved}
    print(json.dumps({'steps': model['start']['steps'], 'params': params}))


if __name__ == '__main__':
    main()
