"""Server mode: only listed models load (safetensors, under a cap), and a refusal never tells whether a path exists."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from models.engine.access import SERVER_CAPTURE_BUDGET_MB, AccessPolicy, download_refusal, read_policy
from models.engine.loading import ModelLoadError, load_model
from tests.tiny_models import families

VIT = families()["vit"]


def _server(**listed) -> AccessPolicy:
    return AccessPolicy(mode="server", **listed)


def test_the_mode_comes_from_the_environment_over_the_project_file_over_the_user_file(tmp_path):
    home, project = tmp_path / "home.toml", tmp_path / "project.toml"
    home.write_text('mode = "server"\nhub_ids = ["gpt2"]\nmax_download_mb = 100\n[folders]\nmine = "/srv/mine"\n')
    project.write_text('hub_ids = ["bert-base-uncased", "gpt2"]\n[photo_roots]\nClass = "/srv/photos"\n')
    policy = read_policy({}, [home, project])
    assert policy == AccessPolicy("server", ("bert-base-uncased", "gpt2"), (("mine", "/srv/mine"),),
                                  (("Class", "/srv/photos"),), max_download_mb=100.0,
                                  capture_budget_mb=SERVER_CAPTURE_BUDGET_MB)  # a server budgets captures unasked
    limits = read_policy({"ATTENTION_LENS_CONCURRENT_CAPTURES": "2", "ATTENTION_LENS_CACHE_MB": "64",
                          "ATTENTION_LENS_CAPTURE_BUDGET_MB": "8"}, [home])
    assert (limits.concurrent_captures, limits.cache_mb, limits.capture_budget_mb) == (2, 64.0, 8.0)
    assert read_policy({"ATTENTION_LENS_MODE": "local"}, [home, project]).mode == "local"
    assert read_policy({"ATTENTION_LENS_HUB_IDS": "a/b, c"}, [home]).hub_ids == ("a/b", "c")
    assert read_policy({}, [tmp_path / "missing.toml"]) == AccessPolicy()  # no file, no variable: local
    assert AccessPolicy().capture_budget_mb is None  # locally, your own machine's memory is yours to use
    with pytest.raises(ValueError, match="'local' or 'server'"):
        read_policy({"ATTENTION_LENS_MODE": "public"}, [])


def test_a_typed_folder_is_refused_with_one_sentence_whether_it_exists_or_not(tmp_path):
    existing = VIT.save(tmp_path / "vit")  # a real, loadable model folder
    messages = []
    for name in (str(existing), str(tmp_path / "missing"), "/etc", "unlisted/model", "folder:unlisted"):
        with pytest.raises(ModelLoadError) as refused:
            load_model(name, policy=_server(hub_ids=("gpt2",)))
        messages.append(str(refused.value))
    assert len(set(messages)) == 1 and "only the models in its list" in messages[0]
    assert load_model(str(existing)).family == "vit"  # the same folder loads in local mode


def test_the_shipped_model_loads_on_every_server_unlisted():
    loaded = load_model("shipped:dates", policy=_server(hub_ids=("gpt2",)))
    assert loaded.family == "marian" and loaded.source.endswith("assets/dates_model")


def test_a_listed_folder_loads_by_name_with_safetensors_only(tmp_path):
    folder = VIT.save(tmp_path / "vit")
    policy = _server(folders=(("tiny-vit", str(folder)),))
    loaded = load_model("folder:tiny-vit", policy=policy)
    assert (loaded.name, loaded.source, loaded.family) == ("folder:tiny-vit", str(folder), "vit")
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")  # the same weights, pickled
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"no safetensors weights; this server does not load pickled"):
        load_model("folder:tiny-vit", policy=policy)
    assert load_model(str(folder)).family == "vit"  # locally, a .bin checkpoint still loads


def test_hub_downloads_need_safetensors_under_the_cap():
    files = {"config.json": 600, "model.safetensors": 440 * 2**20, "pytorch_model.bin": 440 * 2**20}
    assert download_refusal("bert-base-uncased", files, max_mb=512) is None
    assert "over this server's download cap of 400 MB" in download_refusal("bert-base-uncased", files, max_mb=400)
    shards = {f"model-0000{i}-of-00003.safetensors": 300 * 2**20 for i in (1, 2, 3)}
    assert "weighs 900 MB" in download_refusal("big", shards, max_mb=512)  # the shards add up
    assert "no safetensors" in download_refusal("old", {"pytorch_model.bin": 10, "config.json": 1}, max_mb=512)
    assert "can size first" in download_refusal("unknown", {"model.safetensors": None}, max_mb=512)
