"""ReLearn (Xu et al. 2025): unlearn by *learning* on augmented forget data whose answers keep the subject
but drop the facts, while holding retain knowledge. The forget set given to these methods must be that
augmented data (vague answers), never the original facts: NLL on the originals would teach them again; the
pipeline builds it (edgeunlearn.augment) and checks the model on the original facts.

relearn          NLL on augmented forget data
relearn_gd       + NLL on retain
relearn_klr      + KL(ref ‖ θ) on retain, the reference being the base with LoRA switched off
relearn_klr_gdr  + both (the default variant)
"""

from edgeunlearn.methods import Method, register
from edgeunlearn.methods.terms import kl_to_reference, mean_nll


def _loss(retain_nll: bool, retain_kl: bool):
    def loss(model, batches, args):
        total, ntoks = mean_nll(model, batches["forget"])
        if retain_nll:
            total = total + args.retain_weight * mean_nll(model, batches["retain"])[0]
        if retain_kl:
            total = total + kl_to_reference(model, batches["retain"])
        return total, ntoks

    return loss


for name, nll, kl, summary in (
    ("relearn", False, False, "NLL on augmented (vague-answer) forget data"),
    ("relearn_gd", True, False, "ReLearn + NLL on retain"),
    ("relearn_klr", False, True, "ReLearn + KL(ref ‖ θ) on retain"),
    ("relearn_klr_gdr", True, True, "ReLearn + NLL and KL(ref ‖ θ) on retain"),
):
    register(
        Method(
            name,
            _loss(nll, kl),
            summary,
            needs_retain=nll or kl,
            needs_retain_reference=kl,
            needs_augmented=True,
            focusable=False,  # it learns vague answers; there is no fact to single out
        )
    )
