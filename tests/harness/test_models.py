"""The model registry (harness/models.py): what it answers from the shipped
servers/*/model.json, and the one-line error each kind of bad file gets."""
import json
import shutil

import pytest

from harness import models

GOOD = {"name": "demo", "title": "a demo model", "platform": "windows", "family": "readiness",
        "microsoft_rank": None, "style": {"color": "#123456", "marker": "h"}, "max_connections": None,
        "options": [], "variants": []}


def write_model(servers_dir, data, folder=None):
    folder = servers_dir / (folder or (data["name"] if isinstance(data, dict) else "demo"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.c").write_text("int main(void) { return 0; }\n")
    (folder / "model.json").write_text(json.dumps(data) if isinstance(data, dict) else data)
    return folder / "model.json"


def error_of(tmp_path, data, folder=None):
    write_model(tmp_path, data, folder)
    with pytest.raises(models.RegistryError) as raised:
        models.load_registry(tmp_path)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_every_model_folder_of_the_tree_is_registered():
    folders = sorted(p.name for p in models.SERVERS_DIR.iterdir() if (p / "main.c").is_file())
    assert sorted(models.all_models()) == folders
    assert {"iocp", "select", "thread", "reference-epoll"} <= set(folders)


def test_winsock_models_come_first_in_microsoft_s_order():
    names = models.all_models()
    assert names[:2] == ["iocp", "overlapped"]
    assert names[-1] == "reference-epoll"
    assert models.native_models() == ["reference-epoll"]
    assert set(models.winsock_models()) == set(names) - {"reference-epoll"}


def test_microsoft_s_order_comes_from_the_ranks():
    order = models.microsoft_order()
    assert order[:3] == [["iocp"], ["overlapped"], ["wsapoll"]]
    assert sorted(order[3]) == ["select", "thread"] and order[4] == ["asyncselect"]
    ranked = {name for tier in order for name in tier}
    assert "reference-epoll" not in ranked and "eventselect" not in ranked  # unranked: left out of tau
    text = models.microsoft_order_text()
    assert text.startswith(models.title("iocp") + " > ") and text.endswith(" > " + models.title("asyncselect"))


def test_the_models_of_a_platform():
    assert models.models_for_platform("Windows") == models.winsock_models()
    assert models.models_for_platform("Linux") == models.all_models()


def test_facts_of_one_model():
    assert models.family("iocp") == "completion" and models.family("thread") == "thread"
    assert models.family("wsapoll") == "readiness"
    assert "threads" in models.options("iocp") and models.options("select") == ()
    assert models.max_connections("iocp") is None and models.max_connections("not-a-model") is None
    assert models.get("not-a-model") is None


def test_by_family_keeps_the_given_order_and_drops_stand_ins():
    grouped = models.by_family(["select", "iocp", "stand-in", "thread", "overlapped"])
    assert grouped == {"completion": ["iocp", "overlapped"], "readiness": ["select"], "thread": ["thread"]}


def test_a_good_file_reads(tmp_path):
    write_model(tmp_path, {**GOOD, "microsoft_rank": 2, "max_connections": 50, "options": ["accept_pool"],
                           "style": {"color": "#abcdef", "marker": "x", "linestyle": "--"}})
    demo = models.load_registry(tmp_path)["demo"]
    assert (demo.microsoft_rank, demo.max_connections, demo.options) == (2, 50, ("accept_pool",))
    assert demo.variants == ()
    write_model(tmp_path / "other", {**GOOD, "options": ["accept_pool"], "variants": [["--accept-pool", "4"]]})
    assert models.load_registry(tmp_path / "other")["demo"].variants == (("--accept-pool", "4"),)
    assert (demo.colour, demo.marker, demo.linestyle) == ("#ABCDEF", "x", "--")
    assert models.microsoft_order(models.load_registry(tmp_path)) == [["demo"]]


@pytest.mark.parametrize("change, expected", [
    ({"platform": "macos"}, "platform must be one of windows, linux"),
    ({"family": "async"}, "family must be one of completion, readiness, thread"),
    ({"microsoft_rank": 0}, "microsoft_rank must be a whole number >= 1 or null"),
    ({"microsoft_rank": True}, "microsoft_rank must be"),
    ({"platform": "linux", "microsoft_rank": 3}, "microsoft_rank is for Winsock models"),
    ({"max_connections": -5}, "max_connections must be a whole number >= 1 or null"),
    ({"options": ["--threads"]}, "options must be a list of option names"),
    ({"options": ["threads", "threads"]}, "options lists an option twice"),
    ({"title": " "}, "title must be a non-empty string"),
    ({"style": {"color": "red", "marker": "o"}}, "style.color must be \"#rrggbb\""),
    ({"style": {"color": "#123456", "marker": "star"}}, "style.marker must be one of"),
    ({"style": {"color": "#123456", "marker": "o", "width": 2}}, "style: unknown key(s) width"),
    ({"colour": "#123456"}, "unknown key(s) colour"),
    ({"name": "Demo"}, "name must be lower-case letters"),
    ({"variants": None}, "variants must be a list of option lists"),
    ({"variants": [[]]}, "variants must be a list of option lists"),
    ({"variants": [["--batch", "16"]]}, "variant ['--batch', '16'] must start with an option, and name only"),
    ({"options": ["batch"], "variants": [["16", "--batch"]]}, "must start with an option"),
    ({"options": ["batch"], "variants": [["--batch", "2"], ["--batch", "2"]]}, "variants lists an option set twice"),
])
def test_a_bad_key_is_one_line_naming_the_file_and_key(tmp_path, change, expected):
    message = error_of(tmp_path, {**GOOD, **change}, folder="demo")
    assert message.startswith(str(tmp_path / "demo" / "model.json") + ": "), message
    assert expected in message, message


def test_a_missing_key_the_wrong_folder_and_bad_json_are_named(tmp_path):
    data = dict(GOOD)
    del data["max_connections"]
    assert "missing key(s) max_connections" in error_of(tmp_path / "a", data)
    assert "must be the folder's name ('other')" in error_of(tmp_path / "b", GOOD, folder="other")
    assert "not valid JSON" in error_of(tmp_path / "c", "{ nope")
    assert "must be a JSON object" in error_of(tmp_path / "d", "[]")


def test_a_model_folder_without_its_file_is_an_error(tmp_path):
    write_model(tmp_path, GOOD)
    (tmp_path / "forgotten").mkdir()
    (tmp_path / "forgotten" / "main.c").write_text("")
    (tmp_path / "core").mkdir()  # no main.c: not a model, no error
    with pytest.raises(models.RegistryError, match=r"forgotten: a main.c but no model.json"):
        models.load_registry(tmp_path)


def test_two_models_may_not_share_a_colour_or_a_marker(tmp_path):
    write_model(tmp_path / "a", GOOD)
    write_model(tmp_path / "a", {**GOOD, "name": "twin", "style": {"color": "#123456", "marker": "o"}})
    assert "style.color #123456 is demo's already" in str(pytest.raises(
        models.RegistryError, models.load_registry, tmp_path / "a").value)
    write_model(tmp_path / "b", GOOD)
    write_model(tmp_path / "b", {**GOOD, "name": "twin", "style": {"color": "#654321", "marker": "h"}})
    assert "style.marker h is demo's already" in str(pytest.raises(
        models.RegistryError, models.load_registry, tmp_path / "b").value)


def test_the_shipped_files_survive_a_copy(tmp_path):
    """The registry reads any servers folder: the shipped one copied reads the same."""
    copy = tmp_path / "servers"
    shutil.copytree(models.SERVERS_DIR, copy, ignore=shutil.ignore_patterns("*.c", "*.h"))
    for folder in copy.iterdir():
        if (folder / "model.json").is_file():
            (folder / "main.c").write_text("")
    assert list(models.load_registry(copy)) == models.all_models()
