"""fastinit init -o DIR/: sharded checkpoints in transformers' layout; --from-hf; --workers."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from _deps import require

import fastinit
from fastinit import cli
from fastinit._hf_checkpoint import (
    INDEX_NAME,
    Layout,
    SpecSource,
    parse_max_shard_size,
    shard_plan,
)

SPEC = {
    "embed.weight": {"shape": [1000, 64], "init": "normal"},
    "layer.0.w": {"shape": [64, 256], "init": "glorot_uniform"},
    "layer.0.b": {"shape": [256], "init": "zeros"},
    "layer.1.w": {"shape": [256, 64], "init": "orthogonal", "dtype": "bfloat16"},
    "layer.1.scale": {"shape": [64], "init": "ones", "dtype": "float16"},
    "head": {"shape": [64, 300], "init": {"class_name": "TruncatedNormal",
                                          "config": {"stddev": 0.02}}},
}


@pytest.fixture()
def spec_path(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return str(path)


def _init(*argv):
    return cli.main(["init", *argv, "-q"])


def _read_dir(directory):
    """{name: array} of a checkpoint directory, through its index (or the single file)."""
    index = os.path.join(directory, INDEX_NAME)
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        out.update(fastinit.load(os.path.join(directory, name)))
    return out


def _bytes_of(directory):
    return {n: open(os.path.join(directory, n), "rb").read() for n in sorted(os.listdir(directory))}


# --- sizes and the shard plan ------------------------------------------------


def test_max_shard_size_units_are_transformers():
    assert parse_max_shard_size("5GB") == 5 * 10**9
    assert parse_max_shard_size("500MB") == 500 * 10**6
    assert parse_max_shard_size("1.5GB") == 1_500_000_000
    assert parse_max_shard_size("10KB") == 10_000
    assert parse_max_shard_size("2GiB") == 2 * 2**30
    assert parse_max_shard_size(1234) == 1234
    for bad in ("five", "-3GB", "0", "5XB"):
        with pytest.raises(ValueError, match="max_shard_size"):
            parse_max_shard_size(bad)
    with pytest.raises(TypeError, match="max_shard_size"):
        parse_max_shard_size(2.5)


def test_shard_plan_matches_huggingface_hub():
    split = require("huggingface_hub.serialization._base")
    sizes = [6, 6, 2, 6, 2, 2, 11, 1, 9, 1]
    state = {f"t{i}": s for i, s in enumerate(sizes)}
    theirs = split.split_state_dict_into_shards_factory(
        state, get_storage_size=lambda s: s, filename_pattern="model{suffix}.safetensors",
        max_shard_size=10)
    ours = shard_plan(sizes, 10)
    names = [f"model-{k + 1:05d}-of-{len(ours):05d}.safetensors" for k in range(len(ours))]
    assert theirs.filename_to_tensors == {
        names[k]: [f"t{i}" for i in shard] for k, shard in enumerate(ours)}


# --- the spec path -----------------------------------------------------------


def test_sharded_spec_equals_init_params(spec_path, tmp_path):
    out = str(tmp_path / "ckpt") + "/"
    assert _init(spec_path, "-o", out, "--max-shard-size", "100KB", "--seed", "7",
                 "--chunk-size", "4KiB") == 0
    files = sorted(os.listdir(out))
    shards = [f"model-0000{k}-of-00003.safetensors" for k in (1, 2, 3)]
    assert files == sorted([INDEX_NAME] + shards)
    with open(os.path.join(out, INDEX_NAME)) as f:
        index = json.load(f)
    expected, _ = fastinit.init_params(spec_path, seed=7)
    assert sorted(index["weight_map"]) == sorted(SPEC)
    assert index["metadata"]["total_size"] == sum(a.nbytes for a in expected.values())
    assert index["metadata"]["total_parameters"] == sum(a.size for a in expected.values())
    got = _read_dir(out)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype
        np.testing.assert_array_equal(got[name].view(np.uint8), value.view(np.uint8))
    # every shard no larger than the limit unless a single tensor exceeds it
    for name in shards:
        tensors = [n for n, f in index["weight_map"].items() if f == name]
        size = sum(expected[n].nbytes for n in tensors)
        assert size <= 100_000 or len(tensors) == 1


def test_provenance_in_every_file(spec_path, tmp_path):
    from safetensors import safe_open

    out = str(tmp_path / "ckpt") + "/"
    assert _init(spec_path, "-o", out, "--max-shard-size", "100KB", "--seed", "7") == 0
    source = SpecSource(spec_path, seed=7)
    expected_hash = source.spec_hash()
    for name in os.listdir(out):
        if not name.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(out, name), "np") as f:
            meta = f.metadata()
        assert meta["format"] == "pt"
        assert meta["fastinit.version"] == fastinit.__version__
        assert meta["fastinit.stream_version"] == str(fastinit.STREAM_VERSION)
        assert meta["fastinit.seed"] == "7"
        assert meta["fastinit.spec_sha256"] == expected_hash
    other = SpecSource({**SPEC, "extra": {"shape": [2], "init": "zeros"}}, seed=7)
    assert other.spec_hash() != expected_hash


def test_one_shard_is_model_safetensors(spec_path, tmp_path):
    out = tmp_path / "one"
    out.mkdir()  # an existing directory needs no trailing slash
    assert _init(spec_path, "-o", str(out), "--seed", "1") == 0
    assert sorted(os.listdir(out)) == ["model.safetensors"]
    expected, _ = fastinit.init_params(spec_path, seed=1)
    got = fastinit.load(out / "model.safetensors")
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name].view(np.uint8), value.view(np.uint8))


def test_resume_keeps_complete_shards_only(spec_path, tmp_path):
    out = str(tmp_path / "ckpt") + "/"
    args = (spec_path, "-o", out, "--max-shard-size", "100KB", "--seed", "7")
    assert _init(*args) == 0
    reference = _bytes_of(out)
    first, second, third = sorted(n for n in reference if n.endswith(".safetensors"))
    with open(os.path.join(out, second), "r+b") as f:  # an interrupted copy: truncated
        f.truncate(1000)
    os.unlink(os.path.join(out, third))
    stamp = os.stat(os.path.join(out, first)).st_mtime_ns
    os.utime(os.path.join(out, first), ns=(stamp - 10**9, stamp - 10**9))
    assert _init(*args, "--resume") == 0
    assert os.stat(os.path.join(out, first)).st_mtime_ns == stamp - 10**9  # kept
    assert _bytes_of(out) == reference
    # another seed: the headers differ, nothing is kept
    assert _init(spec_path, "-o", out, "--max-shard-size", "100KB", "--seed", "8",
                 "--resume") == 0
    assert os.stat(os.path.join(out, first)).st_mtime_ns != stamp - 10**9
    expected, _ = fastinit.init_params(spec_path, seed=8)
    got = _read_dir(out)
    np.testing.assert_array_equal(got["head"], expected["head"])


def test_sharding_options_need_a_directory(spec_path, tmp_path, capsys):
    assert _init(spec_path, "-o", str(tmp_path / "x.safetensors"), "--resume") == 1
    assert "directory output" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.safetensors")


def test_bad_inputs_name_the_argument(spec_path, tmp_path, capsys):
    out = str(tmp_path / "d") + "/"
    assert _init(spec_path, "-o", out, "--max-shard-size", "lots") == 1
    assert "max_shard_size" in capsys.readouterr().err
    assert _init("-o", out) == 1
    assert "SPEC" in capsys.readouterr().err
    assert _init(spec_path, "--from-hf", spec_path, "-o", out) == 1
    assert "not both" in capsys.readouterr().err


def test_layout_of_an_empty_spec_has_one_file(tmp_path):
    layout = Layout(SpecSource({}, seed=0), "1KB")
    assert layout.names == ["model.safetensors"]


# --- Dask --------------------------------------------------------------------


def test_workers_write_the_same_bytes(spec_path, tmp_path):
    require("distributed")
    one = str(tmp_path / "one") + "/"
    two = str(tmp_path / "two") + "/"
    args = ("--max-shard-size", "100KB", "--seed", "3")
    assert _init(spec_path, "-o", one, *args) == 0
    assert _init(spec_path, "-o", two, *args, "--workers", "2") == 0
    assert _bytes_of(one) == _bytes_of(two)


def test_scheduler_address_writes_the_same_bytes(spec_path, tmp_path):
    distributed = require("distributed")
    one = str(tmp_path / "one") + "/"
    two = str(tmp_path / "two") + "/"
    args = ("--max-shard-size", "100KB", "--seed", "4")
    assert _init(spec_path, "-o", one, *args) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert _init(spec_path, "-o", two, *args, "--scheduler", cluster.scheduler_address) == 0
    assert _bytes_of(one) == _bytes_of(two)


# --- --from-hf ---------------------------------------------------------------


def _transformers():
    """transformers, importable beside a torchvision wheel built for another torch."""
    torch = require("torch")
    try:
        import transformers
        from transformers import LlamaConfig  # noqa: F401 - the lazy import that can fail
    except (ImportError, RuntimeError):
        sys.modules.pop("transformers", None)
        pytest.skip("transformers cannot be imported here")
    return torch, transformers


def _tiny_llama(tmp_path, tie):
    torch, transformers = _transformers()
    config = transformers.LlamaConfig(
        vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tie,
        architectures=["LlamaForCausalLM"], pad_token_id=3)
    directory = tmp_path / f"config-{tie}"
    config.save_pretrained(directory)
    return torch, transformers, directory


@pytest.mark.parametrize("tie", [False, True])
def test_from_hf_loads_and_equals_materialize(tmp_path, tie):
    torch, transformers, config_dir = _tiny_llama(tmp_path, tie)
    import fastinit.torch as fi

    out = str(tmp_path / "llama") + "/"
    assert _init("--from-hf", str(config_dir / "config.json"), "-o", out, "--seed", "11",
                 "--dtype", "bfloat16", "--max-shard-size", "20KB", "--chunk-size", "1000") == 0
    names = os.listdir(out)
    assert "config.json" in names and INDEX_NAME in names
    loaded, info = transformers.AutoModelForCausalLM.from_pretrained(
        out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not info["mismatched_keys"]
    assert loaded.dtype is torch.bfloat16
    config = transformers.AutoConfig.from_pretrained(config_dir)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fi.materialize(model, seed=11)
    ours, theirs = loaded.state_dict(), model.state_dict()
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        assert torch.equal(ours[name].view(torch.int16), value.view(torch.int16)), name
    if not tie:  # the padding row is zero, as the model's own init makes it
        assert not ours["model.embed_tokens.weight"][3].any()
    else:  # (tied: the head's init, run after the embedding's, overwrites it)
        assert loaded.lm_head.weight is loaded.model.embed_tokens.weight


def test_from_hf_streams_the_large_tensors(tmp_path):
    _, _, config_dir = _tiny_llama(tmp_path, False)
    from fastinit._hf_model import HFSource

    source = HFSource(config_dir, seed=0)
    records = source.records()
    saved = [name for name, _, _ in source.tensors()]
    # every saved matrix and norm of a Llama is replayed block by block, none computed
    # whole (the rotary buffers, computed whole, are not saved)
    assert len(saved) == 21 and all(records[n] is not None for n in saved), records
    embed = records["model.embed_tokens.weight"]
    assert [op[:2] for op in embed] == [("random", "normal"), ("op", "zero_")]
    assert embed[1][-2:] == (3 * 32, 4 * 32)  # the padding row, a flat range


def test_from_hf_refuses_a_file_output_and_a_bad_config(tmp_path, capsys):
    _, _, config_dir = _tiny_llama(tmp_path, False)
    assert _init("--from-hf", str(config_dir), "-o", str(tmp_path / "m.safetensors")) == 1
    assert "directory" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert _init("--from-hf", str(bad), "-o", str(tmp_path / "x") + "/") == 1
    assert "model_type" in capsys.readouterr().err


def test_from_hf_tensors_computed_whole_equal_too(tmp_path, monkeypatch):
    """The path for tensors whose init cannot be replayed by block: run the init alone."""
    torch, transformers, config_dir = _tiny_llama(tmp_path, True)
    import fastinit.torch as fi
    from fastinit._hf_checkpoint import write_checkpoint
    from fastinit._hf_model import HFSource

    source = HFSource(config_dir, seed=2)
    records = source.records()
    whole = ["model.embed_tokens.weight", "model.layers.1.mlp.up_proj.weight",
             "model.norm.weight"]
    monkeypatch.setitem(source._state, "records",
                        {n: (None if n in whole else ops) for n, ops in records.items()})
    out = tmp_path / "whole"
    write_checkpoint(str(out), source, chunk_bytes=512)
    got = fastinit.load(out / "model.safetensors")
    config = transformers.AutoConfig.from_pretrained(config_dir)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    theirs = fi.materialize(model, seed=2).state_dict()
    assert "lm_head.weight" not in got  # tied: saved once, as save_pretrained does
    for name in got:
        np.testing.assert_array_equal(got[name], theirs[name].numpy(), err_msg=name)


def _tiny_gpt2(tmp_path):
    torch, transformers = _transformers()
    config = transformers.GPT2Config(vocab_size=80, n_positions=24, n_embd=16, n_layer=3,
                                     n_head=2, architectures=["GPT2LMHeadModel"])
    directory = tmp_path / "config-gpt2"
    config.save_pretrained(directory)
    return torch, transformers, directory


@pytest.mark.parametrize("model, scheme, dtype", [
    ("llama", "llama3-depth", "float32"), ("llama", "llama3-depth", "bfloat16"),
    ("gpt2", "gpt2", "float32")])
def test_from_hf_with_a_scheme_equals_materialize(tmp_path, model, scheme, dtype):
    """--scheme with --from-hf: materialize(model, seed, scheme=) bit for bit, streamed."""
    if model == "llama":
        torch, transformers, config_dir = _tiny_llama(tmp_path, False)
    else:
        torch, transformers, config_dir = _tiny_gpt2(tmp_path)
    import fastinit.torch as fi

    out = str(tmp_path / "out") + "/"
    assert _init("--from-hf", str(config_dir), "-o", out, "--seed", "5", "--scheme", scheme,
                 "--dtype", dtype, "--max-shard-size", "10KB", "--chunk-size", "256") == 0
    loaded, info = transformers.AutoModelForCausalLM.from_pretrained(
        out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not info["mismatched_keys"]
    config = transformers.AutoConfig.from_pretrained(config_dir)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config,
                                                              dtype=getattr(torch, dtype))
    theirs = fi.materialize(model, seed=5, scheme=scheme).state_dict()
    ours = loaded.state_dict()
    assert sorted(ours) == sorted(theirs)
    for name, value in theirs.items():
        assert torch.equal(ours[name].view(torch.int16 if dtype == "bfloat16" else value.dtype),
                           value.view(torch.int16 if dtype == "bfloat16" else value.dtype)), name
    # the scheme decided the values: not the model's own init
    with torch.device("meta"):
        plain = transformers.AutoModelForCausalLM.from_config(config,
                                                              dtype=getattr(torch, dtype))
    own = fi.materialize(plain, seed=5).state_dict()
    assert any(not torch.equal(own[n], theirs[n]) for n, _ in model.named_parameters())


def test_from_hf_scheme_without_a_rule_writes_nothing(tmp_path, capsys):
    _, _, config_dir = _tiny_gpt2(tmp_path)
    out = tmp_path / "out"
    # torchtitan's Llama 3 has no position embeddings: refused, naming the tensor
    assert _init("--from-hf", str(config_dir), "-o", str(out) + "/", "--scheme",
                 "llama3-depth") == 1
    assert "transformer.wpe.weight" in capsys.readouterr().err
    assert not out.exists() or not os.listdir(out)


def test_from_hf_scheme_changes_the_spec_hash(tmp_path):
    _, _, config_dir = _tiny_gpt2(tmp_path)
    from fastinit._hf_model import HFSource

    plain = HFSource(config_dir, seed=0).spec_hash()
    assert HFSource(config_dir, seed=0, scheme="gpt2").spec_hash() != plain
    assert HFSource(config_dir, seed=0, scheme="megatron").spec_hash() not in (
        plain, HFSource(config_dir, seed=0, scheme="gpt2").spec_hash())


@pytest.mark.parametrize("options", [("--layout", "torch"), ("--scheme", "gpt2")])
def test_directory_equals_single_file(tmp_path, options):
    """The fans' layout and a scheme decide the values in a directory as in one file."""
    spec = {"transformer.wte.weight": {"shape": [50, 16], "init": "normal"},
            "transformer.h.0.attn.c_attn.weight": {"shape": [16, 48], "init": "he_normal"},
            "transformer.h.0.attn.c_proj.weight": {"shape": [16, 16], "init": "he_normal"},
            "transformer.h.0.attn.c_attn.bias": {"shape": [48], "init": "zeros"},
            "transformer.h.0.ln_1.weight": {"shape": [16], "init": "ones"},
            "lm_head.weight": {"shape": [50, 16], "init": "glorot_uniform"}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    assert _init(str(path), "-o", str(tmp_path / "one.safetensors"), *options) == 0
    assert _init(str(path), "-o", str(tmp_path / "dir") + "/", "--max-shard-size", "3KB",
                 *options) == 0
    single = fastinit.load(tmp_path / "one.safetensors")
    sharded = _read_dir(str(tmp_path / "dir"))
    assert sorted(single) == sorted(sharded)
    for name in single:
        np.testing.assert_array_equal(single[name], sharded[name], err_msg=name)


def test_from_hf_on_a_scheduler_writes_the_same_bytes(tmp_path):
    distributed = require("distributed")
    _, _, config_dir = _tiny_llama(tmp_path, False)
    one = str(tmp_path / "one") + "/"
    two = str(tmp_path / "two") + "/"
    args = ("--from-hf", str(config_dir), "--max-shard-size", "20KB", "--seed", "9")
    assert _init(*args, "-o", one) == 0
    # workers in this process (threads): they import transformers as the test session does
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert _init(*args, "-o", two, "--scheduler", cluster.scheduler_address) == 0
    assert len(os.listdir(one)) == 7  # 5 shards, the index, config.json
    assert _bytes_of(one) == _bytes_of(two)
