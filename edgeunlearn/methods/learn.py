"""Plain fine-tuning: lower the answer NLL on the given data. Not an unlearning method: it builds retain
models (trained without the forget set, for TOFU forget quality and PrivLeak) and modules to negate."""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import mean_nll


def learn_loss(model, batches, args):
    return mean_nll(model, batches["forget"])


register(
    Method("learn", learn_loss, "fine-tune: learn the given answers (retain models)", unlearns=False, focusable=False)
)
