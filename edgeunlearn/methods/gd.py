"""Gradient difference: gradient ascent on forget plus ordinary NLL on retain."""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import mean_nll


def gd_loss(model, batches, args):
    forget_nll, ntoks = mean_nll(model, batches["forget"])
    retain_nll, _ = mean_nll(model, batches["retain"])
    return -forget_nll + args.retain_weight * retain_nll, ntoks


register(Method("gd", gd_loss, "gradient ascent on forget + NLL on retain", needs_retain=True))
