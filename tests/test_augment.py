"""ReLearn's offline augmentation: the leak filter, the model-then-template fallback, the cache, bad input.

Where a test needs a model that misbehaves in a known way it passes a scripted `generate` function: the
subject under test is the filtering and fallback logic, not a backend (the real model runs in test_cli).
"""

import json
from dataclasses import replace

import pytest
from conftest import write_jsonl

from edgeunlearn.augment import augment, forbidden_terms, leaks, load_augmented, obtain
from edgeunlearn.augment.model_prompts import new_specifics, usable_question
from edgeunlearn.augment.templates import noisy, subject_of
from edgeunlearn.config import AugmentConfig
from edgeunlearn.data import QAItem
from edgeunlearn.errors import UserError
from edgeunlearn.text import entities, fluency_issues

PERSON = QAItem("Where was Jane Roe born?", "Jane Roe was born in Springfield on March 3, 1971.", ("Springfield",))
CAPITAL = QAItem("What is the capital of France?", "The capital of France is Paris.", ("Paris",))
TEMPLATES_ONLY = AugmentConfig(generator="templates")


def test_entities_find_numbers_dates_titles_and_names():
    found = entities('Jane Roe wrote "The Long Night" at the University of Texas on March 3, 1971.')
    assert {"Jane Roe", "The Long Night", "University of Texas", "March", "3", "1971"} <= set(found)
    assert entities("It is what it is.") == []


def test_forbidden_terms_keep_the_subject_and_ban_the_facts():
    terms = forbidden_terms(PERSON)
    assert {"Springfield", "March", "3", "1971"} <= set(terms)
    assert "Jane Roe" not in terms  # the subject, named by the question, may stay
    assert forbidden_terms(CAPITAL) == ["Paris"]
    assert "France" in forbidden_terms(CAPITAL, reversed_relation=True)  # reversed: the subject is the answer
    assert {"Jane", "Roe"} <= set(forbidden_terms(QAItem("Who won?", "Jane Roe won.")))  # name parts too


def test_leaks_are_whole_words_ignoring_case_and_accents():
    assert leaks("I think it's paris, maybe.", ["Paris"]) == ["Paris"]
    assert leaks("A Parisian cafe.", ["Paris"]) == []
    assert leaks("Born in São Paulo", ["Sao Paulo"]) == ["Sao Paulo"]
    assert leaks("In 1971 or so", ["1971"]) == ["1971"] and leaks("In 19712", ["1971"]) == []


def test_fluency_issues():
    assert fluency_issues("") == ["empty"]
    assert fluency_issues("Paris Paris Paris Paris") == ["repeats"]
    assert fluency_issues("the the the the end") == ["repeats"]
    assert fluency_issues("xkcdq ### zzzz qwrtp") == ["non-words"]
    assert fluency_issues('!"!"!"!" "":!" hasattr Talm?"!" "":!"!"!"!"') == ["non-words"]  # punctuation noise
    assert fluency_issues("I don't have the specific details about that - sorry.") == []


def test_templates_give_every_kind_without_leaks_and_label_the_source():
    result = augment([PERSON, CAPITAL], TEMPLATES_ONLY, seed=0, generate=None)
    kinds = {r.kind for r in result.records}
    assert kinds == {"original", "rephrased", "specific", "noisy", "reversed", "completion"}
    all_terms = forbidden_terms(PERSON) + forbidden_terms(CAPITAL)
    for record in result.records:
        assert not leaks(record.answer, all_terms), record
        assert record.answer_source == "template" and record.question_source in ("given", "template")
        assert not fluency_issues(record.answer)
    reversed_q = [r.question for r in result.records if r.kind == "reversed" and r.of == 2]
    assert reversed_q and "Paris" in reversed_q[0]
    vague = [r.answer for r in result.records if r.kind == "original" and r.of == 2][0]
    assert "France" in vague  # keeps the subject
    assert result.dropped == []


def test_completions_split_an_answer_at_its_first_quarter():
    result = augment([CAPITAL], replace(TEMPLATES_ONLY, kinds=()), seed=0, generate=None)
    original = next(r for r in result.records if r.kind == "original")
    completion = next(r for r in result.records if r.kind == "completion")
    words = original.answer.split()
    assert completion.question == " ".join(words[: len(words) // 4])
    assert completion.answer == " ".join(words[len(words) // 4 :])


def test_same_seed_same_data_other_seed_other_data():
    def run(seed):
        return [r.to_json() for r in augment([PERSON, CAPITAL], TEMPLATES_ONLY, seed, None).records]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_noisy_questions_have_typos_and_informal_wording():
    import random

    text = noisy("What is the capital of France?", random.Random(0))
    assert text != "What is the capital of France?" and text == text.lower()
    assert subject_of("What is the capital of France?") == "the capital of France"
    assert subject_of("Who wrote Hamlet?") == "Hamlet"


class Scripted:
    """A stand-in model with known answers, counting calls: leaks first, then a usable vague answer."""

    def __init__(self, answers_by_attempt):
        self.answers = answers_by_attempt
        self.calls = 0

    def __call__(self, prompts, max_new_tokens):
        self.calls += 1
        return [self.answers(p, self.calls) for p in prompts]


def test_model_answers_that_leak_are_regenerated_then_kept():
    def answers(prompt, call):
        if "Answer:" in prompt or "Fact:" in prompt or "Turn this" in prompt or "Rewrite" in prompt:
            return "The capital of France is Paris."  # not a question: every question attempt fails
        return (
            "It is Paris, of course."
            if "Answer this question vaguely" in prompt
            else "I am unsure about the capital of France."
        )

    generate = Scripted(answers)
    result = augment([CAPITAL], replace(AugmentConfig(), kinds=("rephrased",)), seed=0, generate=generate)
    by_kind = {r.kind: r for r in result.records}
    assert by_kind["rephrased"].question_source == "template"  # the model never wrote a question
    assert by_kind["original"].answer == "I am unsure about the capital of France."
    assert by_kind["original"].answer_source == "model"  # leaked on attempt 1, clean on attempt 2
    assert generate.calls == 3 + 2  # three question attempts, two answer attempts


def test_model_answers_that_always_leak_fall_back_to_templates():
    generate = Scripted(lambda prompt, call: "Paris is the capital of France.")
    result = augment([CAPITAL], replace(AugmentConfig(), kinds=("rephrased",), attempts=3), 0, generate)
    assert generate.calls == 6
    assert all(r.answer_source == "template" and not leaks(r.answer, ["Paris"]) for r in result.records)


def test_model_outputs_with_new_specifics_are_not_vague():
    assert new_specifics("The capital of Somalia is Mogadishu.", "What is the capital of France?")
    assert new_specifics("It has nine districts.", "What is the capital of France?") == ["nine"]
    assert new_specifics("I am unsure about the capital of France.", "What is the capital of France?") == []
    assert usable_question("Which country has Paris as its capital?", "reversed", "Q?", ["Paris"], set())
    assert not usable_question("Which country is it?", "reversed", "Q?", ["Paris"], set())
    assert not usable_question("The capital is Paris.", "rephrased", "Q?", ["Paris"], set())


def test_augmentation_with_nothing_usable_stops_with_a_clear_error():
    hopeless = QAItem("What do I say?", "I say that.", ("I", "that"))
    with pytest.raises(UserError, match="augmentation produced no usable items"):
        obtain([hopeless], TEMPLATES_ONLY, 0, "templates", None)


def test_results_are_cached_by_content(tmp_path):
    calls = Scripted(lambda prompt, call: "I am unsure about the capital of France.")
    cfg = replace(AugmentConfig(), kinds=("rephrased",))
    first, path = obtain([CAPITAL], cfg, 0, "model-a", calls)
    n = calls.calls
    again, same_path = obtain([CAPITAL], cfg, 0, "model-a", calls)
    assert same_path == path and calls.calls == n
    assert [r.to_json() for r in again.records] == [r.to_json() for r in first.records]
    _, other = obtain([CAPITAL], cfg, 1, "model-a", calls)
    assert other != path and calls.calls > n


def test_user_file_that_leaks_is_refused_with_the_item_number(tmp_path):
    rows = [
        {"question": "What is the capital of France?", "answer": "I can't say.", "of": 1, "kind": "original"},
        {"question": "Capital of France?", "answer": "Hmm, Paris I think."},
    ]
    with pytest.raises(UserError, match=r"item 2 answer leaks 'Paris'"):
        load_augmented(write_jsonl(tmp_path / "aug.jsonl", rows), [CAPITAL])
    clean = load_augmented(write_jsonl(tmp_path / "ok.jsonl", rows[:1]), [CAPITAL])
    assert clean.records[0].of == 1 and clean.records[0].answer_source == "user"
    assert json.loads(json.dumps(clean.records[0].to_json()))["kind"] == "original"


def test_flat_relearn_templates_are_the_vague_answers_to_the_same_questions():
    from edgeunlearn.config import MethodArgs, RunConfig
    from edgeunlearn.data.templates import REFUSALS
    from edgeunlearn.pipeline.training_data import _templates

    forget = [CAPITAL, PERSON]
    augmented = augment(forget, TEMPLATES_ONLY, 0, None)
    augmented.records[:] = [r for r in augmented.records if r.of == 1]  # as if item 2 had been dropped
    cfg = RunConfig(method="flat", method_args=MethodArgs(template="relearn"))
    first, second = _templates(cfg, forget, augmented)
    vague = next(r.answer for r in augmented.records if r.kind == "original")
    assert first == QAItem(CAPITAL.question, vague)
    assert second.question == PERSON.question and second.answer in REFUSALS  # no vague answer: a refusal
    refusals = _templates(replace(cfg, method_args=MethodArgs(template="refusal")), forget, augmented)
    assert all(t.answer in REFUSALS for t in refusals)


def test_an_items_completion_prompt_rides_on_its_original_record(tmp_path):
    """A base model gets completion prompts: ReLearn must train on the item's own prompt (what the check gives
    the model), so the original question's record carries it, through the cache and an edited file too."""
    from edgeunlearn.backends.base import Prompter

    item = replace(CAPITAL, extra={"prompt": "The capital of France is"})
    result, path = obtain([item], replace(TEMPLATES_ONLY, kinds=("rephrased",)), 0, "templates", None)
    prompts = {r.kind: r.prompt for r in result.records}
    assert prompts["original"] == "The capital of France is"
    # every variant stays a sentence to continue (written out by hand from the templates)
    assert prompts["rephrased"] in {
        "As far as I know, the capital of France is",
        "It is often said that the capital of France is",
        "Here is a fact: The capital of France is",
        "To put it simply, the capital of France is",
        "Most people would agree that the capital of France is",
    }
    completion = next(r for r in result.records if r.kind == "completion")
    vague = next(r.answer for r in result.records if r.kind == "original")
    assert completion.prompt == completion.question and vague.startswith(completion.prompt + " ")
    assert "Question:" not in "".join(prompts.values())
    original = next(i for i in result.items() if i.extra["kind"] == "original")
    assert original.extra["prompt"] == "The capital of France is"
    again, _ = obtain([item], replace(TEMPLATES_ONLY, kinds=("rephrased",)), 0, "templates", None)
    assert [r.prompt for r in again.records] == [r.prompt for r in result.records]  # read back from the cache
    _, plain = obtain([CAPITAL], replace(TEMPLATES_ONLY, kinds=("rephrased",)), 0, "templates", None)
    assert plain != path  # the prompt is part of what the cache is keyed on

    class Words:  # a whitespace tokenizer without a chat template: completion prompts, by hand
        chat_template, eos_token_id = None, 0

        def encode(self, text, add_special_tokens=True):
            return [len(w) for w in text.split()]

    assert Prompter(Words()).prompt_ids(original) == [3, 7, 2, 6, 2]  # "The capital of France is"


def test_completion_prompt_variants_of_every_kind_by_hand():
    """Noisy and reversed variants of a completion prompt, and a sentence that opens on a name keeps it."""
    import random

    from edgeunlearn.augment.templates import prompt_variants

    rng = random.Random(0)
    reversed_ = prompt_variants("reversed", "The capital of France is", CAPITAL.question, "Paris", rng)
    assert set(reversed_) == {
        "Paris is best known as",
        "Speaking of Paris, it is connected with",
        "The subject that Paris belongs to is",
    }
    for text in prompt_variants("noisy", "The capital of France is", CAPITAL.question, "Paris", rng):
        assert not text.endswith("?") and text.split()[-1] == "is"
    named = prompt_variants("rephrased", "Marie Curie was born in", "Where was Marie Curie born?", "Warsaw", rng)
    assert "As far as I know, Marie Curie was born in" in named
    specific = prompt_variants("specific", "The capital of France is", CAPITAL.question, "Paris", rng)
    assert "For a quiz about the capital of France: The capital of France is" in specific
