"""SFT: every record `synthgym export sft` wrote, through the real Qwen3 chat template and TRL's SFTTrainer.

Each check is one test per record (its id names source:mode:record), so a failure says which record failed which
check: the record's shape (a tool conversation for function-calling episodes, ending at the last real reply), its
rendering by the template (tools included), the exporter's Qwen3 token count against the tokenizer's count of that
rendering; then SFTTrainer trains 2 steps on each exported file as `datasets` loads it, with a finite loss.
"""
import json

import pytest

from conftest import finite_losses, tiny_qwen3

SYNTHETIC = {"", "exit_context", "exit_api", "exit_format", "exit_cost", "submit"}
EMPTY_THINK = "<think>\n\n</think>\n\n"


def mode_of(data, record):
    return data["modes"].get(record["metadata"]["id"], "unknown")


def render(tokenizer, record):
    return tokenizer.apply_chat_template(record["messages"], tools=record.get("tools"), tokenize=False)


def answer(content):
    """The reply without its reasoning, as the template splits it."""
    return content.split("</think>")[-1].strip() if isinstance(content, str) else content


def test_shape(record, data):
    assert "messages" in record, "not in the messages format: %s" % sorted(record)
    msgs = record["messages"]
    assert all(m.get("role") in ("system", "user", "assistant", "tool") for m in msgs), [m.get("role") for m in msgs]
    last = msgs[-1]
    assert last["role"] == "assistant", "the conversation ends with a %s message, not the last reply" % last["role"]
    assert answer(last.get("content") or "") not in SYNTHETIC or last.get("tool_calls"), \
        "the last reply is empty or synthetic: %r" % last.get("content")
    if mode_of(data, record) != "function_calling":
        return
    tools = record.get("tools")
    assert isinstance(tools, list) and tools, "a function-calling episode's record has no `tools` list"
    names = {t["function"]["name"] for t in tools}
    calls = [m for m in msgs if m["role"] == "assistant" and m.get("tool_calls")]
    assert calls, "no assistant message has `tool_calls`"
    open_ids = []
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            assert not open_ids, "message %d: tool calls %s were never answered by tool messages" % (i, open_ids)
            for c in m.get("tool_calls") or []:
                assert c.get("type") == "function" and c["function"]["name"] in names, "message %d: %r" % (i, c)
                args = c["function"]["arguments"]
                assert isinstance(json.loads(args) if isinstance(args, str) else args, dict), "arguments: %r" % args
                open_ids.append(c["id"])
        elif m["role"] == "tool":
            assert m.get("tool_call_id") in open_ids, "message %d: a tool message answers no call: %r" % (i, m)
            open_ids.remove(m["tool_call_id"])
    assert any(m["role"] == "tool" for m in msgs), "no `tool` messages: observations are not tool results"


def test_renders(record, tokenizer):
    text = render(tokenizer, record)
    msgs = record["messages"]
    n_calls = sum(len(m.get("tool_calls") or []) for m in msgs)
    n_tool = sum(1 for m in msgs if m["role"] == "tool")
    assert text.count("<tool_call>\n") - (1 if record.get("tools") else 0) == n_calls, "every tool call is rendered"
    assert text.count("<tool_response>\n") == n_tool, "every tool result is rendered"
    for i, m in enumerate(msgs):
        a = answer(m.get("content") or "")
        assert a in text, "message %d (%s) is not in the rendering" % (i, m["role"])
    for t in record.get("tools") or []:
        assert json.dumps(t["function"]["name"]) in text, "tool %s is not in the system block" % t["function"]["name"]


def test_token_count(record, tokenizer):
    md = record["metadata"]
    assert md["tokenizer"] == "qwen3", "export with --tokenizer qwen3 (the default)"
    text = render(tokenizer, record)
    n = lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    theirs = n(text)
    if md["tokens"] != theirs:
        pytest.fail("metadata.tokens is %d; the Qwen3 tokenizer counts %d tokens in the template's rendering (%+d)%s"
                    % (md["tokens"], theirs, theirs - md["tokens"], template_changes(record, n)))


def template_changes(record, n):
    """What the template renders differently from the messages' own text, to say where a count went wrong."""
    msgs = record["messages"]
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    last_query = users[-1] if users else -1
    dropped = sum(n(m["content"].split("</think>")[0] + "</think>") for i, m in enumerate(msgs)
                  if i < last_query and m["role"] == "assistant" and "</think>" in (m.get("content") or ""))
    notes = []
    if dropped:
        notes.append("it drops the reasoning of replies before the last user turn (about %d tokens)" % dropped)
    last = msgs[-1]
    thinks = "</think>" in (last.get("content") or "") or last.get("reasoning_content")
    if last["role"] == "assistant" and not thinks:
        notes.append("it adds an empty think block before the last reply (%d tokens)" % n(EMPTY_THINK))
    if record.get("tools"):
        notes.append("it renders the tools into the system block")
    return ": " + "; ".join(notes) if notes else ""


def test_sft_trains_two_steps(export_file, tmp_path):
    """SFTTrainer on the file as `datasets` loads it (metadata and all), 2 steps of the tiny model: a finite loss and
    changed weights. max_length bounds the cost of the 151,936-wide logits on CPU."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from conftest import TOKENIZER_DIR
    import torch

    ds = load_dataset("json", data_files=export_file["path"], split="train")
    assert len(ds) > 0, "%s is empty" % export_file["path"]
    model = tiny_qwen3()
    before = model.model.norm.weight.detach().clone(), model.model.embed_tokens.weight.detach().clone()
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=2, per_device_train_batch_size=1, max_length=512,
                     learning_rate=1e-2, logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, seed=0,
                     dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds,
                         processing_class=AutoTokenizer.from_pretrained(TOKENIZER_DIR))
    assert len(trainer.train_dataset) == len(ds), "every record was kept by the trainer's preparation"
    trainer.train()
    assert trainer.state.global_step == 2
    assert len(finite_losses(trainer.state.log_history)) == 2
    after = model.model.norm.weight.detach(), model.model.embed_tokens.weight.detach()
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "the weights did not change"
