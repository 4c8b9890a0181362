"""Train the same MLP with thinc_fast and with Thinc 9.1.1, side by side, and
print the largest parameter difference after each optimizer's run.

Both start from the same seeded weights (identical: the initializers equal
Thinc's), see the same batches in the same order
and run the README's loop (``begin_update``, ``backprop(Yh - Y)``,
``finish_update``, ``step_schedules``) with each optimizer at its default
settings (Thinc's defaults: ``grad_clip=1.0``, averages on).

    python benchmarks/thinc_parity.py --steps 20

Needs ``pip install thinc==9.1.1`` (the ``bench`` extra).
"""
import argparse

import numpy


def build(lib, widths, X, Y):
    model = lib.chain(*[lib.Relu(w) for w in widths], lib.Softmax())
    model.initialize(X=X[:4], Y=Y[:4])
    return model


def params(model):
    return [(i, name, node.get_param(name)) for i, node in enumerate(list(model.walk()))
            for name in node.param_names if node.has_param(name)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import thinc.api as thinc_api

    import thinc_fast.api as fast_api
    from thinc_fast.datasets import digits

    X, Y, _, _ = digits()
    rng = numpy.random.default_rng(args.seed)
    order = rng.permutation(X.shape[0])
    batches = [order[i * args.batch:(i + 1) * args.batch] for i in range(args.steps)]
    optimizers = {
        "Adam": (lambda lib: lib.Adam(0.001)),
        "SGD": (lambda lib: lib.SGD(0.1)),
        "RAdam": (lambda lib: lib.RAdam(0.001)),
    }
    print(f"{args.steps} steps, batch {args.batch}, digits 64-32-32-10, default settings")
    print(f"{'optimizer':<10} {'max |w_fast - w_thinc|':>24} {'max |w|':>10} {'max |avg diff|':>16}")
    for name, make in optimizers.items():
        # the same seed gives both libraries the same initial weights (checked)
        fast_api.fix_random_seed(args.seed)
        fast = build(fast_api, (32, 32), X, Y)
        thinc_api.fix_random_seed(args.seed)
        ref = build(thinc_api, (32, 32), X, Y)
        for (i, pname, value), (j, rname, theirs) in zip(params(fast), params(ref)):
            assert (i, pname) == (j, rname)
            assert numpy.array_equal(value, theirs), f"initial {pname} of node {i} differs"
        fast_opt, ref_opt = make(fast_api), make(thinc_api)
        for idx in batches:
            for model, opt in ((fast, fast_opt), (ref, ref_opt)):
                Yh, backprop = model.begin_update(X[idx])
                backprop(Yh - Y[idx])
                model.finish_update(opt)
                opt.step_schedules()
        diff = max(float(numpy.abs(a - b).max())
                   for (_, _, a), (_, _, b) in zip(params(fast), params(ref)))
        scale = max(float(numpy.abs(a).max()) for _, _, a in params(fast))
        fast_avg = {(i, n): a for i, n, a in _avg_by_position(fast, fast_opt)}
        ref_avg = {(i, n): a for i, n, a in _avg_by_position(ref, ref_opt)}
        avg_diff = max(float(numpy.abs(fast_avg[k] - ref_avg[k]).max()) for k in ref_avg)
        print(f"{name:<10} {diff:>24.3g} {scale:>10.3g} {avg_diff:>16.3g}")


def _avg_by_position(model, optimizer):
    averages = optimizer.averages or {}
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            if (node.id, name) in averages:
                yield i, name, averages[(node.id, name)]


if __name__ == "__main__":
    main()
