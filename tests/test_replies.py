"""Typed probe replies: what the student process sends is validated before any check reads it;
models travel by position and are rebuilt only within checked bounds."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

from autograder.sandbox import modelspec
from autograder.sandbox.replies import (
    MAX_STRING,
    MAX_TENSOR_ELEMENTS,
    REPLY_TYPES,
    GradNormReply,
    InvalidReply,
    LayerDesc,
    ModelDesc,
    from_wire,
    to_wire,
)


def _grad_norm_wire(**changes) -> dict:
    wire = to_wire(GradNormReply(value=1.5, type="builtins.float", grads_after=[torch.ones(3)]))
    wire.update(changes)
    return wire


def test_an_honest_reply_round_trips():
    got = from_wire(GradNormReply, _grad_norm_wire())
    assert got.value == 1.5 and got.type == "builtins.float"
    assert torch.equal(got.grads_after[0], torch.ones(3))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"value": "1.5"}, "where a float"),
        ({"value": True}, "where a float"),
        ({"grads_after": [torch.ones(3), 7]}, "where a tensor"),
        ({"grads_after": torch.ones(3)}, "where a list"),
        ({"surprise": 1}, "unexpected field"),
        ({"grads_after": [torch.ones(3).to_sparse()]}, "tensor"),
        ({"grads_after": [torch.ones(3, dtype=torch.complex64)]}, "dtype"),
        ({"value": 10**100}, "where a float"),
    ],
)
def test_malformed_replies_are_refused_naming_the_field(change, words):
    with pytest.raises(InvalidReply, match=words):
        from_wire(GradNormReply, _grad_norm_wire(**change))


def test_missing_fields_are_refused():
    wire = _grad_norm_wire()
    del wire["grads_after"]
    with pytest.raises(InvalidReply, match="missing field 'grads_after'"):
        from_wire(GradNormReply, wire)


def test_a_stride_zero_tensor_cannot_claim_gigabytes():
    huge = torch.zeros(1).expand(50_000, 50_000)  # 2.5e9 elements backed by one float
    with pytest.raises(InvalidReply, match="elements"):
        from_wire(GradNormReply, _grad_norm_wire(grads_after=[huge]))
    small = torch.zeros(1).expand(10, 10)
    got = from_wire(GradNormReply, _grad_norm_wire(grads_after=[small]))
    assert got.grads_after[0].is_contiguous() and got.grads_after[0].shape == (10, 10)


def test_total_tensor_size_and_node_count_are_bounded():
    many = [torch.zeros(MAX_TENSOR_ELEMENTS // 2) for _ in range(10)]
    with pytest.raises(InvalidReply, match="in total"):
        from_wire(GradNormReply, _grad_norm_wire(grads_after=many))
    shared = [1.0] * 100_000  # one list, sent 30 times by reference: 3 million values to visit
    with pytest.raises(InvalidReply, match="values in one reply"):
        from_wire(dict[str, list[float]], {f"k{i}": shared for i in range(30)})


def test_strings_are_capped_and_cleaned_not_refused():
    got = from_wire(GradNormReply, _grad_norm_wire(type="x\udcff" + "y" * 10 * MAX_STRING))
    assert len(got.type) <= MAX_STRING and "\udcff" not in got.type
    got.type.encode("utf-8")  # always encodable


def test_every_probe_has_a_reply_type_the_validator_understands():
    for cls in REPLY_TYPES.values():
        from_wire(list[cls], [])  # resolves every annotation without error


def _named(style: str) -> nn.Sequential:
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)]
    if style == "index":
        return nn.Sequential(*layers)
    if style == "ordered":
        return nn.Sequential(OrderedDict((f"part_{i}", m) for i, m in enumerate(layers)))
    if style == "nested":
        return nn.Sequential(layers[0], nn.Sequential(*layers[1:3]), *layers[3:])
    model = nn.Sequential()
    for i, m in enumerate(layers):
        model.add_module(f"m{i}", m)
    return model


@pytest.mark.parametrize("style", ["index", "ordered", "add_module", "nested"])
def test_models_are_described_by_position_whatever_their_children_are_named(style):
    reference = modelspec.describe_model(_named("index"))
    got = modelspec.describe_model(_named(style))
    assert got.types() == reference.types() == [
        "Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear"
    ]  # fmt: skip
    for a, b in zip(got.layers, reference.layers, strict=True):
        assert a.args == b.args and a.params.keys() == b.params.keys()
        assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)
    rebuilt = modelspec.build_model(from_wire(ModelDesc, to_wire(got)).layers, load_state=True)
    x = torch.randn(4, 6)
    model = _named(style).eval()
    assert torch.equal(rebuilt.eval()(x), model(x))


def test_unknown_layers_are_described_by_name_and_never_rebuilt():
    class Sneaky(nn.Module):
        pass

    desc = modelspec.describe_layer(Sneaky())
    assert desc.type == "unknown" and "Sneaky" in desc.cls
    with pytest.raises(modelspec.RebuildError, match="cannot rebuild"):
        modelspec.build_model([desc])


def test_a_lying_layer_size_is_caught_before_anything_is_allocated():
    desc = modelspec.describe_layer(nn.Linear(4, 3))
    desc.args["in_features"] = 60_000  # the weight sent is still (3, 4)
    with pytest.raises(modelspec.RebuildError, match="shape"):
        modelspec.build_model([desc], load_state=True)
    desc.args.update(in_features=65_536, out_features=65_536)  # 4.3e9 parameters
    with pytest.raises(modelspec.RebuildError, match="parameters"):
        modelspec.build_model([desc], load_state=True)
    for bad in ({"in_features": -1}, {"in_features": True}, {"bias": "yes"}):
        lying = LayerDesc(type="Linear", cls="torch.nn.Linear", args={**desc.args, **bad})
        with pytest.raises(modelspec.RebuildError):
            modelspec.build_model([lying])
