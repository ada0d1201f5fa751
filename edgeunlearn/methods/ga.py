"""Gradient ascent: raise the answer NLL on forget data."""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import mean_nll


def ga_loss(model, batches, args):
    nll, ntoks = mean_nll(model, batches["forget"])
    return -nll, ntoks


register(Method("ga", ga_loss, "gradient ascent on the forget answers"))
