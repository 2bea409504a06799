"""Real model libraries under ``fastinit.torch.patch(seed=...)``.

transformers (Llama, GPT-2, BERT, ViT), timm (ViT, ResNet, ConvNeXt) and
torchvision (ResNet, ViT), at small sizes.  For each: built under
``patch(seed=S)`` the weights are identical whatever ``torch.manual_seed``
was, change with ``S``, the random ones were written by fastinit (a spy on its
seed lookup records every tensor it fills), and each has the scale of a plain
build's.  Also: ``from_pretrained`` under ``patch()`` keeps the loaded weights
and fills only the missing one, and a library imported inside the block is
routed there and has its own functions back afterwards (in a subprocess, where
they are not imported yet).

torchvision's wheels on PyPI do not fit torch's CPU build; ``conftest.py``
installs the shim that lets them import (see ``_torchvision_shim.py``).
"""
import os
import subprocess
import sys
import textwrap

import pytest
from _deps import require

torch = require("torch")
transformers = require("transformers")
timm = require("timm")
torchvision = require("torchvision")
import torchvision.models as tvm
from timm.models.convnext import ConvNeXt
from timm.models.resnet import BasicBlock, ResNet

import fastinit.torch as fit
from fastinit.torch import _libs as _torch_libs

T = transformers


def _llama_config():
    return T.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=64)


MODELS = {
    "hf_llama": lambda: T.LlamaForCausalLM(_llama_config()),
    "hf_gpt2": lambda: T.GPT2LMHeadModel(T.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, vocab_size=128, n_positions=64,
        bos_token_id=0, eos_token_id=0)),
    "hf_bert": lambda: T.BertForMaskedLM(T.BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        vocab_size=128, max_position_embeddings=64)),
    "hf_vit": lambda: T.ViTForImageClassification(T.ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        image_size=32, patch_size=8, num_labels=10)),
    "timm_vit": lambda: timm.create_model(
        "vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, embed_dim=32, num_heads=4,
        num_classes=10),
    "timm_resnet": lambda: ResNet(BasicBlock, [1, 1, 1, 1], channels=(16, 32, 64, 128),
                                  num_classes=10),
    "timm_convnext": lambda: ConvNeXt(depths=(1, 1, 1, 1), dims=(16, 32, 64, 128),
                                      num_classes=10),
    "tv_resnet": lambda: tvm.resnet18(num_classes=10),
    "tv_vit": lambda: tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                                            num_heads=4, hidden_dim=32, mlp_dim=64,
                                            num_classes=10),
}

# Random tensors that model code draws with torch's own Tensor methods rather
# than an init function: reproducible under patch(seed=) (torch's CPU
# generator is seeded from the seed for the block), but not fastinit's values.
DIRECT_TORCH_RNG = {"tv_vit": {"encoder.pos_embedding"}}


@pytest.fixture
def filled(monkeypatch):
    """The data pointers of every tensor fastinit.torch fills (through its seed lookup)."""
    seen = set()
    original = fit._fast._seed_stream

    def spy(tensor, generator):
        seen.add(tensor.data_ptr())
        return original(tensor, generator)

    monkeypatch.setattr(fit._fast, "_seed_stream", spy)
    return seen


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _build(name, seed, manual_seed):
    torch.manual_seed(manual_seed)
    with fit.patch(seed=seed):
        return MODELS[name]()


@pytest.mark.parametrize("name", list(MODELS))
def test_patch_seed_builds_do_not_depend_on_torch_manual_seed(name, filled):
    model = _build(name, 11, manual_seed=1)
    tensors = dict(model.state_dict())
    a = _state(model)
    ptrs = set(filled)
    b = _state(_build(name, 11, manual_seed=2))
    c = _state(_build(name, 12, manual_seed=1))
    torch.manual_seed(1)
    plain = _state(MODELS[name]())
    assert a.keys() == b.keys() == c.keys() == plain.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    random = [k for k in a if not torch.equal(a[k], c[k])]
    assert len(random) >= 4, random  # the seed reaches the model
    not_ours = {k for k in random if tensors[k].data_ptr() not in ptrs}
    assert not_ours == DIRECT_TORCH_RNG.get(name, set())
    for k in random:  # each random tensor has the plain build's scale
        if a[k].numel() >= 1000 and a[k].is_floating_point():
            ratio = float(a[k].std() / plain[k].std())
            assert 0.85 < ratio < 1.15, (k, ratio)
    # the non-random tensors equal the plain build's
    for k in a.keys() - set(random):
        assert torch.equal(a[k], plain[k]), k


def test_timm_functions_are_routed_to_their_fastinit_counterparts():
    import timm.layers
    import timm.layers.weight_init as wi
    import timm.models.vision_transformer as vt
    originals = {n: getattr(wi, n) for n in _torch_libs.LIBRARY_ROUTES[wi.__name__]}
    with fit.patch():
        for attr, replacement in _torch_libs.LIBRARY_ROUTES[wi.__name__].items():
            assert getattr(wi, attr) is replacement
            assert getattr(timm.layers, attr) is replacement
        assert vt.trunc_normal_ is _torch_libs._timm_trunc_normal_
        assert wi.trunc_normal_tf_ is fit.trunc_normal_tf_
        assert vt.lecun_normal_ is fit.lecun_normal_
        assert T.initialization.TORCH_INIT_FUNCTIONS["normal_"] is fit.normal_
        assert T.initialization.normal_.__module__ == "transformers.initialization"
    for attr, original in originals.items():
        assert getattr(wi, attr) is original and getattr(timm.layers, attr) is original
    assert vt.trunc_normal_ is originals["trunc_normal_"]
    table = T.initialization.TORCH_INIT_FUNCTIONS
    assert all(table[k] is fit._TORCH[k] for k in table)


def test_from_pretrained_keeps_loaded_weights_and_fills_only_the_missing_one(tmp_path, filled):
    torch.manual_seed(0)
    base = T.LlamaModel(_llama_config())
    base.save_pretrained(tmp_path)
    heads = []
    for manual_seed in (1, 2):
        torch.manual_seed(manual_seed)
        filled.clear()
        with fit.patch(seed=3):
            model = T.LlamaForCausalLM.from_pretrained(tmp_path)
        state = model.state_dict()
        for k, v in base.state_dict().items():
            assert torch.equal(state["model." + k], v), k
        head = state["lm_head.weight"]  # missing from the checkpoint
        assert filled == {head.data_ptr()}  # the only tensor fastinit filled
        assert 0.018 < float(head.std()) < 0.022  # the model's N(0, 0.02)
        heads.append(head.clone())
    assert torch.equal(heads[0], heads[1])
    with fit.patch(seed=4):
        other = T.LlamaForCausalLM.from_pretrained(tmp_path).state_dict()["lm_head.weight"]
    assert not torch.equal(heads[0], other)


IMPORT_INSIDE = r"""
import sys, types
sys.path.insert(0, TESTS)
import _torchvision_shim
_torchvision_shim.install()
import torch
import fastinit.torch as fit
from fastinit.torch import _libs as _torch_libs
assert "timm" not in sys.modules and "transformers" not in sys.modules

def build():
    import timm
    vit = timm.create_model("vit_tiny_patch16_224", img_size=16, patch_size=8, depth=1,
                            embed_dim=16, num_heads=2, num_classes=3)
    return vit.state_dict()

ours = {id(getattr(fit, n)): getattr(fit, n) for n in fit.INIT_NAMES}
ours.update({id(f): f for t in _torch_libs.LIBRARY_ROUTES.values() for f in t.values()})

def routed_refs():
    # every reference to a fastinit replacement held outside fastinit and this script
    refs = []
    for name, module in list(sys.modules.items()):
        if (name.startswith("fastinit") or not isinstance(module, types.ModuleType)
                or vars(module) is globals()):
            continue
        for key, value in list(vars(module).items()):
            values = list(value.values()) if type(value) is dict else [value]
            refs += [(name, key) for v in values if id(v) in ours and ours[id(v)] is v]
    return refs

torch.manual_seed(1)
with fit.patch(seed=3):
    import timm.layers.weight_init as wi
    import timm.models.vision_transformer as vt
    import transformers.initialization as ti
    assert vt.trunc_normal_ is _torch_libs._timm_trunc_normal_, vt.trunc_normal_
    assert ti.TORCH_INIT_FUNCTIONS["normal_"] is fit.normal_
    first = build()
assert routed_refs() == [], routed_refs()
table = ti.TORCH_INIT_FUNCTIONS
assert all(table[k] is getattr(torch.nn.init, k) for k in table)
assert torch.nn.init.normal_ is fit._TORCH["normal_"]
assert wi.trunc_normal_.__module__ == "timm.layers.weight_init"
assert vt.trunc_normal_ is wi.trunc_normal_ and vt.lecun_normal_ is wi.lecun_normal_
torch.manual_seed(2)
with fit.patch(seed=3):  # the second block routes the same references again
    assert vt.trunc_normal_ is _torch_libs._timm_trunc_normal_
    assert ti.TORCH_INIT_FUNCTIONS["normal_"] is fit.normal_
    second = build()
assert routed_refs() == []
assert first.keys() == second.keys()
assert all(torch.equal(first[k], second[k]) for k in first)
print("OK")
"""


def test_libraries_imported_inside_the_block_are_routed_and_restored():
    tests = os.path.dirname(os.path.abspath(__file__))
    code = f"TESTS = {tests!r}\n" + textwrap.dedent(IMPORT_INSIDE)
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.dirname(fit.__file__)))  # src/
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
