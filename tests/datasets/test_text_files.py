"""Text data files as people write them: line breaks inside JSON strings, a
byte-order mark, CRLF, and hostile records refused with file:line."""
import json

import pytest

from thinc_fast.datasets.text import MAX_DOC_CHARS, read_conllu, read_jsonl
from thinc_fast.errors import DataError, UserError


def _jsonl(path, records, prefix=b"", newline="\n"):
    text = newline.join(json.dumps(r, ensure_ascii=False) for r in records) + newline
    path.write_bytes(prefix + text.encode("utf8"))
    return path


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085"])
def test_characters_splitlines_breaks_at_stay_inside_their_record(tmp_path, char):
    """str.splitlines() also breaks at these; JSON allows them raw inside
    strings, and the error then blamed the JSON. (The control characters
    splitlines breaks at, \\x0b to \\x1e, must be escaped in JSON, so they never
    reach the line split raw.)"""
    path = _jsonl(tmp_path / "t.jsonl", [{"text": f"one{char}two three", "label": "a"},
                                         {"text": "four", "label": "b"}])
    assert char in path.read_text(encoding="utf8")
    docs, labels, where = read_jsonl(path)
    assert labels == ["a", "b"] and where == [f"{path}:1", f"{path}:2"]
    assert docs[1] == ["four"] and "three" in docs[0]


def test_a_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = _jsonl(tmp_path / "t.jsonl", [{"text": "a b", "label": "x"}, {"text": "c", "label": "y"}],
                  prefix=b"\xef\xbb\xbf", newline="\r\n")
    docs, labels, _ = read_jsonl(path)
    assert docs == [["a", "b"], ["c"]] and labels == ["x", "y"]
    conllu = tmp_path / "t.conllu"
    conllu.write_bytes(b"\xef\xbb\xbf# sent_id = 1\r\n1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\r\n\r\n")
    docs, tags, _ = read_conllu(conllu)
    assert docs == [["Hi"]] and tags == [["INTJ"]]


def test_deep_nesting_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=f"{path}:2: the JSON is nested too deeply"):
        read_jsonl(path)


def test_a_huge_integer_label_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": ' + "7" * 5000 + "}\n")
    with pytest.raises(DataError, match=f"{path}:1: a value cannot be read"):
        read_jsonl(path)


def test_a_huge_number_in_set_is_a_user_error():
    from thinc_fast.training.config import parse_overrides

    with pytest.raises(UserError, match="--set data.labels: the value cannot be read"):
        parse_overrides(["data.labels=[" + "7" * 5000 + "]"])


def test_a_document_longer_than_the_limit_is_refused(tmp_path):
    """A 10 MB line trained at 3.1 GB RSS, with no limit or warning."""
    path = _jsonl(tmp_path / "t.jsonl", [{"text": "ok", "label": "a"},
                                         {"text": "w " * (MAX_DOC_CHARS // 2 + 1), "label": "b"}])
    with pytest.raises(DataError, match=f"{path}:2: \"text\" has 1,000,002 characters, more "
                                        "than the 1,000,000"):
        read_jsonl(path)
    conllu = tmp_path / "t.conllu"
    conllu.write_text(f"1\t{'x' * (MAX_DOC_CHARS + 1)}\t_\tX\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(DataError, match=f"{conllu}:1: the sentence starting here"):
        read_conllu(conllu)


def test_a_label_only_in_the_dev_file_is_refused_not_made_a_class(tmp_path):
    """It silently became an extra class that no training example has."""
    from thinc_fast.datasets.text import conllu_tagger, jsonl_textcat

    train = _jsonl(tmp_path / "train.jsonl", [{"text": "a", "label": "x"},
                                               {"text": "b", "label": "y"}])
    dev = _jsonl(tmp_path / "dev.jsonl", [{"text": "a", "label": "x"},
                                           {"text": "c", "label": "z"}])
    with pytest.raises(DataError, match=f"{dev}:2: label 'z' is in the dev data but never in "
                                        f"the training file {train}"):
        jsonl_textcat(str(train), dev_path=str(dev))
    # named on purpose, it is a class (with no training example)
    X, Y, dX, dY = jsonl_textcat(str(train), dev_path=str(dev), labels=["x", "y", "z"])
    assert Y.shape == (2, 3) and dY[1].tolist() == [0, 0, 1]
    conllu = "1\tHi\t_\tINTJ\t_\t_\t0\troot\t_\t_\n\n"
    (tmp_path / "t.conllu").write_text(conllu + conllu.replace("INTJ", "NOUN"))
    (tmp_path / "d.conllu").write_text(conllu.replace("INTJ", "VERB"))
    with pytest.raises(DataError, match="label 'VERB' is in the dev data"):
        conllu_tagger(str(tmp_path / "t.conllu"), dev_path=str(tmp_path / "d.conllu"))
