"""Evaluation metrics on hand-computed values, and the offline sentence encoder on real weights."""

import json
import math

import numpy as np
import pytest

from edgeunlearn.data import QAItem
from edgeunlearn.metrics.knowledge import entity_similarity, forget_threshold, kfr, krr, reference_entities
from edgeunlearn.metrics.linguistic import brunet_index, honore_statistic, linguistic_score, perplexity


@pytest.fixture(scope="module")
def encoder():
    from edgeunlearn.judges.encoder import SentenceEncoder

    return SentenceEncoder()


def test_encoder_puts_paraphrases_close_and_unrelated_text_apart(encoder):
    sims = encoder.similarity(
        ["The capital of France is Paris.", "The capital of France is Paris."],
        ["Paris is the capital city of France.", "The stock market fell sharply today."],
    )
    assert sims[0, 0] > 0.85 and sims[1, 1] < 0.3
    vectors = encoder.embed(["short", "a somewhat longer sentence, so the batch needs padding"])
    assert vectors.shape == (2, 384) and abs(float((vectors**2).sum(axis=1)[0]) - 1) < 1e-5
    alone = encoder.embed(["short"])  # padding must not change a sentence's embedding
    assert float(alone[0] @ vectors[0]) > 0.9999


def test_unreadable_encoder_folder_is_a_clear_error(tmp_path):
    from edgeunlearn.errors import UserError
    from edgeunlearn.judges.encoder import SentenceEncoder

    with pytest.raises(UserError, match="unreadable"):
        SentenceEncoder(tmp_path)


def test_reference_entities_prefer_keywords_then_the_answers_own_entities():
    assert reference_entities(QAItem("Q?", "A.", ("Paris", "1889"))) == ["Paris", "1889"]
    assert reference_entities(QAItem("What is the capital of France?", "The capital of France is Paris.")) == ["Paris"]
    assert reference_entities(QAItem("Who?", "nobody knows")) == []


def test_entity_similarity_by_name_and_by_embedding(encoder):
    assert entity_similarity("It is paris, I think.", ["Paris", "France"]) == 0.5
    assert entity_similarity("No idea.", []) is None
    # 'USA' embeds 0.89 from 'United States', 'Tokyo' 0.49 from 'Paris' (measured): one of two matches
    assert entity_similarity("He moved to the USA and then Tokyo.", ["United States", "Paris"], encoder) == 0.5
    assert entity_similarity("He moved to the USA.", ["United States"]) == 0.0  # names only, no encoder


def test_kfr_and_krr_by_hand():
    assert forget_threshold(3) == 0.5 and forget_threshold(4) == 0.3
    sims, counts = [0.0, 0.5, 0.34, 1.0], [1, 2, 4, 4]
    assert kfr(sims, counts) == 0.5  # 0 ≤ .5 and .5 ≤ .5 forgotten; .34 > .3 and 1 > .3 kept
    assert kfr(sims, counts, [False, False, False, True]) == 0.75  # a contradiction counts as forgotten
    assert kfr([None], [0]) is None
    # no reference entities: counted (similarity 0, as ReLearn) only when the NLI judge saw a contradiction
    assert kfr([None, 1.0], [0, 1], [True, False]) == 0.5 and kfr([None, 1.0], [0, 1], [False, False]) == 0.0
    assert krr([None, 1.0], [True, False]) == 0.5 and krr([None, 1.0], [False, False]) == 1.0
    assert krr([0.3, 0.29, 1.0]) == pytest.approx(2 / 3)
    assert krr([0.3, 0.29, 1.0], [False, False, True]) == pytest.approx(1 / 3)


def test_linguistic_components_by_hand():
    assert brunet_index("a b a") == pytest.approx(3 ** (2**-0.165))  # N=3, V=2
    assert honore_statistic("a b a") == pytest.approx(100 * math.log(3) / (1 - 1 / 2 + 0.1))  # V1=1
    assert honore_statistic("a b c") == pytest.approx(100 * math.log(3) / 0.1)  # every word once
    assert honore_statistic("") == 0.0 and brunet_index("!!") == 1000.0  # ReLearn's values for no words
    assert perplexity([-1.0, -1.0]) == pytest.approx(math.e)


def test_linguistic_score_is_the_harmonic_mean_of_the_three_parts():
    result = linguistic_score([1.0, 3.0], ["a b a", "a b c"])
    bi = (3 ** (2**-0.165) + 3 ** (3**-0.165)) / 2
    hs = (100 * math.log(3) / 0.6 + 100 * math.log(3) / 0.1) / 2
    parts = [1 / (1 + 2.0), 1 / (1 + bi), hs / (1 + hs)]
    assert result["ppl"] == 2.0 and result["brunet"] == pytest.approx(bi) and result["honore"] == pytest.approx(hs)
    assert result["ls"] == pytest.approx(3 / sum(1 / p for p in parts))
    assert linguistic_score([None], [""])["ls"] is None  # no perplexity at all: no score


def test_an_empty_answer_pulls_the_linguistic_score_down():
    """A collapsed model that answers nothing must not look as fluent as one that answers."""
    fluent = linguistic_score([2.0], ["a b c"])
    mixed = linguistic_score([2.0, None], ["a b c", ""])
    bi = (3 ** (3**-0.165) + 1000) / 2  # the empty answer counts with Brunet 1000 ...
    hs = (100 * math.log(3) / 0.1 + 0) / 2  # ... and Honoré 0; its perplexity is undefined
    assert mixed["brunet"] == pytest.approx(bi) and mixed["honore"] == pytest.approx(hs) and mixed["ppl"] == 2.0
    parts = [1 / 3, 1 / (1 + bi), hs / (1 + hs)]
    assert mixed["ls"] == pytest.approx(3 / sum(1 / p for p in parts)) and mixed["ls"] < fluent["ls"]


def test_truth_ratio_forget_quality_and_model_utility_by_hand():
    from edgeunlearn.metrics.tofu import forget_quality, model_utility, truth_ratio

    assert truth_ratio(1.0, [2.0, 4.0]) == pytest.approx(math.exp(1.0 - 3.0))  # prefers the paraphrase
    assert truth_ratio(1.0, []) is None
    same = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert forget_quality(same, same) == pytest.approx(1.0)  # identical distributions
    far = forget_quality([0.1, 0.11, 0.12, 0.13, 0.14], [0.9, 0.91, 0.92, 0.93, 0.94])
    assert far == pytest.approx(2 / 252)  # exact two-sided KS p-value for disjoint samples of 5 and 5
    assert forget_quality([], same) is None
    mu = model_utility([0.0, math.log(2)], [1.0, 0.5], [0.5, 2.0])
    assert mu["probability"] == pytest.approx(0.75) and mu["rouge_l_recall"] == 0.75
    assert mu["truth_ratio_stat"] == pytest.approx(0.25)  # mean of max(0, 1 − R): 0.5 and 0
    assert mu["model_utility"] == pytest.approx(3 / (1 / 0.75 + 1 / 0.75 + 1 / 0.25))


def test_membership_scores_auc_and_privleak_by_hand():
    import zlib

    import numpy as np

    from edgeunlearn.metrics.privacy import auc, loss_score, min_k_plus_plus_score, min_k_score, priv_leak, zlib_score

    lp = np.array([-0.1, -2.0, -0.5, -4.0, -0.2])
    assert loss_score(lp) == pytest.approx(-6.8 / 5)
    assert zlib_score(lp, "abc") == pytest.approx((-6.8 / 5) / len(zlib.compress(b"abc")))  # mean, as MUSE
    # the mean, not the sum: a long answer is not ranked as less of a member just for its length
    assert zlib_score(np.full(10, -1.0), "abc") == zlib_score(np.full(2, -1.0), "abc")
    assert min_k_score(lp) == -4.0  # the lowest 20% of 5 tokens: one token
    assert min_k_score(lp, 0.4) == pytest.approx(-3.0)
    mu, sigma = np.full(5, -1.0), np.full(5, 2.0)
    assert min_k_plus_plus_score(lp, mu, sigma, 0.4) == pytest.approx(((-4 + 1) / 2 + (-2 + 1) / 2) / 2)
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 3], [2, 2]) == 0.5 and auc([2], [2]) == 0.5  # ties count half
    # MUSE's sign: its AUC is 1 − ours; a model that kept everything reads −100%, a retain-like one 0
    assert priv_leak(1.0, 0.5) == pytest.approx(-1.0) and priv_leak(0.5, 0.5) == 0.0
    assert priv_leak(0.75, 0.5) == pytest.approx((0.25 - 0.5) / 0.5)
    assert priv_leak(0.9, 0.6) == pytest.approx((0.1 - 0.4) / 0.4)
    assert priv_leak(0.2, 0.5) == pytest.approx(0.6)  # over-unlearned: positive
    assert priv_leak(None, 0.5) is None and priv_leak(0.5, 1.0) is None


def test_fact_judges_give_entity_similarity_per_answer(encoder):
    from edgeunlearn.judges import EmbeddingJudge, EntityJudge, make_judge

    items = [QAItem("Where does he live?", "He lives in the United States.", ()), QAItem("Q?", "no entities here")]
    answers = ["Somewhere in the USA.", "whatever"]
    by_name = EntityJudge().assess(items, answers, forget=True)
    assert [a.entity_similarity for a in by_name] == [0.0, None] and by_name[0].entities == 1
    embedding = EmbeddingJudge()
    embedding.encoder = encoder  # the module's encoder, loaded once
    assert embedding.assess(items, answers, forget=True)[0].entity_similarity == 1.0  # 'USA' ~ 'United States'
    assert by_name[0].contradiction is None  # no NLI judge
    from edgeunlearn.errors import UserError

    with pytest.raises(UserError, match="unknown judge 'nli-x'"):
        make_judge("nli-x")


def test_reference_figures_compare_each_variant_with_the_retain_model():
    from edgeunlearn.check.evaluate import ItemResult, VariantResult, VariantSpec
    from edgeunlearn.check.reference import ReferenceFigures, add_reference_figures, reference_summary

    def variant(ratios, aucs):
        items = [ItemResult("q", "a", "g", False, "none", 0.0, -1.0, truth_ratio=r) for r in ratios]
        spec = VariantSpec("v", "unlearned", "mlx", "fp32", lambda: None)
        return VariantResult(spec, items, [], 0.0, {"membership_auc": aucs})

    same = variant([0.2, 0.5, 0.9], {"loss": 0.75})
    apart = variant([5.0, 6.0, 7.0], {"loss": 0.5})
    reference = ReferenceFigures("retain", [0.2, 0.5, 0.9], {"loss": 0.5})
    add_reference_figures([same, apart], reference)
    assert same.metrics["forget_quality"] == pytest.approx(1.0)  # identical samples: KS statistic 0
    assert apart.metrics["forget_quality"] == pytest.approx(0.1)  # disjoint, n = m = 3: exact p = 2/C(6,3)
    assert same.metrics["priv_leak"] == {"loss": pytest.approx(-0.5)}  # MUSE: (0.25 − 0.5) / 0.5
    assert apart.metrics["priv_leak"] == {"loss": pytest.approx(0.0)}
    assert "--reference" in reference_summary(None)["note"]


def test_nli_judge_reads_a_local_folder_and_its_contradictions_count_in_kfr(tmp_path):
    from conftest import make_nli_folder

    from edgeunlearn.errors import UserError
    from edgeunlearn.judges import make_judge
    from edgeunlearn.judges.nli import NLIClassifier

    bias = [2.0, 0.0, -1.0]
    folder = make_nli_folder(tmp_path / "nli", bias)
    nli = NLIClassifier(folder)
    probs = nli.probabilities(["Paris is the capital.", "x"], ["Lyon is the capital.", "a longer second hypothesis"])
    expected = [math.exp(b) / sum(math.exp(c) for c in bias) for b in bias]  # zero classifier: softmax(bias)
    assert probs.shape == (2, 3) and np.allclose(probs, [expected, expected], atol=1e-6)

    import mlx.core as mx  # a random classifier: the head is tanh-pooled [CLS] → linear → softmax, by hand

    from edgeunlearn.judges.bert import encode, forward

    w = nli.bert.weights
    w["classifier.weight"] = mx.array(np.random.default_rng(0).normal(size=(3, 384)).astype(np.float32))
    cls = np.array(forward(nli.bert, *encode(nli.bert, [("Paris.", "Lyon.")]))[0, 0])
    pooled = np.tanh(np.array(w["pooler.dense.weight"]) @ cls + np.array(w["pooler.dense.bias"]))
    logits = np.array(w["classifier.weight"]) @ pooled + np.array(bias)
    by_hand = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(nli.probabilities(["Paris."], ["Lyon."])[0], by_hand, atol=1e-5)
    w["classifier.weight"] = mx.zeros((3, 384))

    vocab_only = NLIClassifier(make_nli_folder(tmp_path / "vocab", bias, tokenizer_json=False))
    pair = ("The Eiffel Tower is in Paris.", "It stands in Lyon!")
    assert vocab_only.bert.tokenizer.encode(*pair).ids == nli.bert.tokenizer.encode(*pair).ids

    judge = make_judge("nli", str(folder))
    items = [QAItem("What is the capital of France?", "Paris.", ("Paris",))]
    (fact,) = judge.assess(items, ["The capital of France is Paris."], forget=True)
    assert fact.entity_similarity == 1.0 and fact.contradiction is True
    assert kfr([fact.entity_similarity], [fact.entities], [fact.contradiction]) == 1.0  # contradiction: forgotten
    (agrees,) = make_judge("nli", str(make_nli_folder(tmp_path / "ent", [0.0, 3.0, 0.0]))).assess(
        items, ["Paris."], True
    )
    assert agrees.contradiction is False

    no_label = tmp_path / "nolabel"
    make_nli_folder(no_label, bias)
    config = json.loads((no_label / "config.json").read_text())
    (no_label / "config.json").write_text(json.dumps({**config, "id2label": {"0": "LABEL_0"}}))
    with pytest.raises(UserError, match="no contradiction label"):
        NLIClassifier(no_label)
    with pytest.raises(UserError, match="unreadable"):
        NLIClassifier(tmp_path / "missing")
    with pytest.raises(UserError, match="needs --nli-model"):
        make_judge("nli")


def test_nli_reads_forget_and_retain_items_in_relearns_directions(encoder):
    """ReLearn: for a forget item the model's answer is the premise (does it now rule the fact out?), for a
    retain item the reference is. The classifier is replaced by one that records the pairs it is given."""
    from edgeunlearn.judges import NLIJudge

    class Recording:
        pairs: list = []

        def contradicts(self, premises, hypotheses):
            self.pairs += list(zip(premises, hypotheses))
            return [p == "Lyon." for p in premises]

    judge = NLIJudge.__new__(NLIJudge)
    judge.encoder, judge.nli = encoder, Recording()
    items = [QAItem("What is the capital of France?", "Paris.", ("Paris",))]
    (forget,) = judge.assess(items, ["Lyon."], forget=True)
    (retain,) = judge.assess(items, ["Lyon."], forget=False)
    assert judge.nli.pairs == [("Lyon.", "Paris."), ("Paris.", "Lyon.")]
    assert forget.contradiction is True and retain.contradiction is False
