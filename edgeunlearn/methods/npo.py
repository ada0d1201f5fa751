"""NPO (Zhang et al. 2024): a bounded, reference-relative push away from the forget answers."""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import npo_loss, sequence_nll
from edgeunlearn.training.batching import batch_rows, batch_tokens


def npo_forget_loss(model, batches, args):
    forget = batches["forget"]
    return npo_loss(sequence_nll(model, forget), forget.ref_nll, args.beta, batch_rows(forget)), batch_tokens(forget)


register(Method("npo", npo_forget_loss, "negative preference optimization on forget", needs_reference=True))
