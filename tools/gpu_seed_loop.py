#!/usr/bin/env python3
"""The README's training loop (the digits MLP) on the GPU, for
tools/gpu_check.sh: ``require_gpu()``, the data moved to the device once, 10
epochs of minibatches of 32 with Adam, the dev accuracy after each epoch.
Exits 1 unless the last accuracy is above 0.9 (the CPU run reaches ~0.96), 2
without a GPU.

    python tools/gpu_seed_loop.py [--epochs 10]
"""
import argparse
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()

    from thinc_fast.api import Adam, Relu, Softmax, chain, fix_random_seed, minibatch, require_gpu
    from thinc_fast.backends.cupy_ops import GPUUnavailableError
    from thinc_fast.datasets import digits

    try:
        require_gpu()
    except GPUUnavailableError as err:
        print(f"gpu_seed_loop: {err}", file=sys.stderr)
        return 2
    fix_random_seed(0)
    train_X, train_Y, dev_X, dev_Y = digits()
    model = chain(Relu(64), Relu(64), Softmax())
    xp = model.ops.xp
    # on the GPU the data must be device arrays too (a NumPy array cannot be
    # indexed with CuPy indices, nor mixed with CuPy arrays)
    train_X, train_Y = model.ops.asarray(train_X), model.ops.asarray(train_Y)
    dev_X, dev_labels = model.ops.asarray(dev_X), dev_Y.argmax(1)
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    optimizer = Adam(0.001)
    indices = xp.arange(train_X.shape[0], dtype="i")
    accuracy = 0.0
    for epoch in range(args.epochs):
        start = time.perf_counter()
        xp.random.shuffle(indices)
        for idx_batch in minibatch(indices, size=32):
            Yh, backprop = model.begin_update(train_X[idx_batch])
            backprop(Yh - train_Y[idx_batch])
            model.finish_update(optimizer)
        guesses = model.ops.to_numpy(model.predict(dev_X)).argmax(1)
        accuracy = float((guesses == dev_labels).mean())
        print(f"epoch {epoch}: dev accuracy {accuracy:.4f} ({time.perf_counter() - start:.3f} s)")
    print(f"final dev accuracy {accuracy:.4f}")
    return 0 if accuracy > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
