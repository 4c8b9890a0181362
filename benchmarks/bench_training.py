"""asv benchmarks of a training step and of its memory."""
import numpy

from thinc_fast.api import Adam, Relu, Softmax, chain


def _data(batch):
    rng = numpy.random.default_rng(0)
    X = rng.random((batch, 784), dtype="float32")
    Y = numpy.eye(10, dtype="float32")[rng.integers(0, 10, batch)]
    return X, Y


class TrainingStep:
    """begin_update + backprop + finish_update on MNIST-shaped batches."""

    params = [[((512, 512), 128), ((64,), 32)]]
    param_names = ["hidden_batch"]

    def setup(self, config):
        hidden, batch = config
        self.X, self.Y = _data(batch)
        self.model = chain(*[Relu(h) for h in hidden], Softmax())
        self.model.initialize(X=self.X[:5], Y=self.Y[:5])
        self.optimizer = Adam(0.001)
        self.time_step(config)

    def time_step(self, config):
        Yh, backprop = self.model.begin_update(self.X)
        backprop(Yh - self.Y)
        self.model.finish_update(self.optimizer)

    def time_predict(self, config):
        self.model.predict(self.X)

    def peakmem_step(self, config):
        for _ in range(3):
            self.time_step(config)


class Initialize:
    def setup(self):
        self.X, self.Y = _data(8)

    def peakmem_initialize_784_512_512_10(self):
        model = chain(Relu(512), Relu(512), Softmax())
        model.initialize(X=self.X, Y=self.Y)

    def time_initialize_784_512_512_10(self):
        model = chain(Relu(512), Relu(512), Softmax())
        model.initialize(X=self.X, Y=self.Y)
