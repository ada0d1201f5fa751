"""NPO on forget plus NLL on retain, the utility-constrained variant."""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.npo import npo_forget_loss
from edgeunlearn.methods.terms import mean_nll


def npo_gd_loss(model, batches, args):
    forget_loss, ntoks = npo_forget_loss(model, batches, args)
    retain_nll, _ = mean_nll(model, batches["retain"])
    return forget_loss + args.retain_weight * retain_nll, ntoks


register(Method("npo_gd", npo_gd_loss, "NPO on forget + NLL on retain", needs_retain=True, needs_reference=True))
