"""The wire and the student process, without the hidden checks."""

from __future__ import annotations

import io
import os
import pickle
import time
from pathlib import Path

import pytest
import torch

from autograder.paths import SOLUTION_PATH
from autograder.sandbox import modelspec, protocol
from autograder.sandbox.client import (
    Limits,
    Sandbox,
    StudentCodeError,
    StudentTimeout,
    SubmissionDoesNotImport,
)


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/bngc-pwned",))


def test_decoding_refuses_code_carrying_pickles():
    payload = pickle.dumps({"ok": True, "result": Exploit()})
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(payload)
    buf = io.BytesIO()
    torch.save({"ok": True, "x": Exploit()}, buf)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(buf.getvalue())
    assert not Path("/tmp/bngc-pwned").exists()


def test_messages_round_trip_through_a_pipe():
    r, w = os.pipe()
    message = {"probe": "x", "kwargs": {"t": torch.arange(5.0), "n": None, "s": "é"}}
    protocol.send(w, message)
    got = protocol.recv(r, deadline=time.monotonic() + 5)
    assert got["probe"] == "x" and torch.equal(got["kwargs"]["t"], torch.arange(5.0))
    os.close(w)
    with pytest.raises(protocol.ChannelClosed):
        protocol.recv(r, deadline=time.monotonic() + 5)


def test_oversized_announcements_are_rejected():
    r, w = os.pipe()
    os.write(w, (protocol.MAX_MESSAGE_BYTES + 1).to_bytes(8, "big"))
    with pytest.raises(protocol.ProtocolError, match="limit"):
        protocol.recv(r, deadline=time.monotonic() + 5)


def test_model_descriptions_round_trip_and_refuse_unknown_layers():
    layers = modelspec.mlp([6, 5, 3], flatten=True)
    torch.manual_seed(0)
    model = modelspec.build_model(layers)
    desc = modelspec.describe_model(model)
    assert desc["layers"] == [
        {"type": "Flatten", "start_dim": 1, "end_dim": -1},
        {"type": "Linear", "in_features": 6, "out_features": 5, "bias": True},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 5, "out_features": 3, "bias": True},
    ]
    rebuilt = modelspec.build_model(desc["layers"], desc["state"])
    x = torch.randn(2, 6)
    assert torch.equal(rebuilt(x), model(x))

    class Sneaky(torch.nn.Module):
        pass

    described = modelspec.describe_layer(Sneaky())
    assert described["type"] == "unknown"
    with pytest.raises(ValueError, match="cannot rebuild"):
        modelspec.build_layer(described)


@pytest.fixture
def write_submission(tmp_path):
    def write(text: str):
        path = tmp_path / "batchnorm_gradclip_exercise.py"
        path.write_text(text)
        return path

    return write


def test_syntax_errors_are_reported_with_their_line(write_submission):
    path = write_submission("import torch\n\ndef add_batchnorm(model):\n    return model +\n")
    with Sandbox(path) as sandbox, pytest.raises(SubmissionDoesNotImport) as err:
        sandbox.import_report()
    assert "SyntaxError" in str(err.value) and "line 4" in str(err.value)


def test_student_exceptions_name_the_line(write_submission):
    source = SOLUTION_PATH.read_text().replace(
        "    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]",
        "    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]\n"
        "    raise ValueError('oops')",
    )
    path = write_submission(source)
    with Sandbox(path) as sandbox, pytest.raises(StudentCodeError) as err:
        sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(2)], shapes=[[2]])
    assert "ValueError" in str(err.value) and "oops" in str(err.value)
    assert "at line" in str(err.value)


def test_a_hung_call_is_stopped_and_the_next_call_gets_a_fresh_process(write_submission):
    source = SOLUTION_PATH.read_text().replace(
        '    """Clip the total gradient norm',
        "    while max_norm == 123.0:\n        pass\n" + '    """Clip the total gradient norm',
    )
    path = write_submission(source)
    with Sandbox(path, limits=Limits(timeout_scale=1.0)) as sandbox:
        started = time.monotonic()
        with pytest.raises(StudentTimeout):
            sandbox.call(
                "clip_gradients", timeout=3, grads=[torch.ones(2)], shapes=[[2]], max_norm=123.0
            )
        assert time.monotonic() - started < 15
        ok = sandbox.call("compute_grad_norm", timeout=30, grads=[torch.ones(4)], shapes=[[4]])
        assert ok["value"] == pytest.approx(2.0)
        assert sandbox.starts == 2
        with pytest.raises(StudentTimeout, match="already timed out"):
            sandbox.call(
                "clip_gradients", timeout=3, grads=[torch.ones(2)], shapes=[[2]], max_norm=1.0
            )
