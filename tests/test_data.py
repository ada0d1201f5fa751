import json

import pytest
from conftest import write_jsonl

from edgeunlearn.data import load_items
from edgeunlearn.errors import UserError

ROWS = [
    {"question": "Q1?", "answer": "A one.", "keywords": ["one"], "topic": "x"},
    {"question": "Q2?", "answer": "A two.", "paraphrased_answer": "Two it is."},
]


def test_jsonl_keeps_keywords_and_extra_fields(tmp_path):
    items = load_items(write_jsonl(tmp_path / "f.jsonl", ROWS))
    assert [i.question for i in items] == ["Q1?", "Q2?"]
    assert items[0].keywords == ("one",) and items[1].keywords == ()
    assert items[1].extra["paraphrased_answer"] == "Two it is."


def test_json_csv_and_datasets_folder_give_the_same_items(tmp_path):
    import datasets

    (tmp_path / "f.json").write_text(json.dumps(ROWS))
    (tmp_path / "f.csv").write_text("question,answer,keywords\nQ1?,A one.,one;uno\nQ2?,A two.,\n")
    datasets.Dataset.from_list([{"question": r["question"], "answer": r["answer"]} for r in ROWS]).save_to_disk(
        str(tmp_path / "saved")
    )
    for name in ("f.json", "f.csv", "saved"):
        assert [i.answer for i in load_items(tmp_path / name)] == ["A one.", "A two."]
    assert load_items(tmp_path / "f.csv")[0].keywords == ("one", "uno")


TOFU = [
    {
        "question": "Where was the author born?",
        "answer": "The author was born in Santiago.",
        "paraphrased_answer": "Santiago is the author's birthplace.",
        "perturbed_answer": ["The author was born in Lima.", "The author was born in Quito."],
    },
    {
        "question": "What genre does the author write?",
        "answer": "The author writes crime novels.",
        "paraphrased_answer": "Crime fiction is the author's genre.",
        "perturbed_answer": ["The author writes poetry.", "The author writes romance."],
    },
]


def test_tofu_columns_from_a_saved_and_a_hub_format_datasets_folder(tmp_path):
    """TOFU's own columns, as they are: a `save_to_disk` folder and a Hub-style folder of parquet splits."""
    import datasets

    data = datasets.Dataset.from_list(TOFU)
    data.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub" / "forget01").mkdir(parents=True)
    data.to_parquet(str(tmp_path / "hub" / "forget01" / "train-00000-of-00001.parquet"))
    for folder in ("saved", "hub"):
        items = load_items(tmp_path / folder, "forget")
        assert [i.question for i in items] == [r["question"] for r in TOFU]
        assert items[0].extra["paraphrased_answer"] == TOFU[0]["paraphrased_answer"]
        assert items[1].extra["perturbed_answer"] == TOFU[1]["perturbed_answer"]


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "Q?", "answer": "A"}\n{"question": "Q2?", "answer": \n')
    with pytest.raises(UserError, match="line 2"):
        load_items(path, "forget")


def test_missing_field_and_empty_set_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="item 1 lacks answer"):
        load_items(write_jsonl(tmp_path / "m.jsonl", [{"question": "Q?"}]), "forget")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match="empty"):
        load_items(tmp_path / "empty.jsonl", "forget")
    with pytest.raises(UserError, match="not found"):
        load_items(tmp_path / "nope.jsonl", "forget")


def test_retain_split_holds_out_a_seeded_share_with_one_item_on_each_side_at_least():
    from edgeunlearn.data import QAItem
    from edgeunlearn.errors import UserError
    from edgeunlearn.pipeline.inputs import split_retain

    items = [QAItem(f"q{n}", f"a{n}") for n in range(10)]
    trained, held, record = split_retain(items, 0.25, 0)
    assert (len(trained), len(held)) == (8, 2)  # round(2.5) = 2 under Python's rounding
    assert sorted(record["trained"] + record["checked"]) == list(range(1, 11))
    assert [items[n - 1] for n in record["checked"]] == held and [items[n - 1] for n in record["trained"]] == trained
    assert trained == [i for i in items if i not in held]  # the file's order is kept on both sides
    assert split_retain(items, 0.25, 0) == (trained, held, record)  # seeded
    assert {i.question for i in split_retain(items, 0.25, 1)[1]} != {i.question for i in held}
    assert split_retain(items, 0.0, 0) == (items, [], None)
    assert split_retain(items[:1], 0.5, 0) == (items[:1], [], None)  # one item: nothing to hold out
    three = split_retain(items[:3], 0.9, 0)
    assert (len(three[0]), len(three[1])) == (1, 2)  # training keeps at least one
    assert len(split_retain(items[:3], 0.01, 0)[1]) == 1  # the check gets at least one
    with pytest.raises(UserError, match="retain_split must be in"):
        split_retain(items, 1.0, 0)
