# Installed into the mlgym runtime (site-packages, loaded by a .pth file). MLGym's baselines (2025) pass
# TrainingArguments(logging_dir=...), an argument transformers 5 removed; where only transformers 5 can be had (its
# huggingface-hub 1.x is all the index has), this lets MLGym's files run unchanged: TrainingArguments accepts
# logging_dir again and ignores it (transformers 5 writes no TensorBoard logs unless report_to asks). Nothing is
# imported until the code itself imports transformers' training_args.
import importlib.abc
import importlib.util
import inspect
import sys

REMOVED = ("logging_dir",)


def _patch(module):
    cls = getattr(module, "TrainingArguments", None)
    if cls is None:
        return
    init = cls.__init__
    params = inspect.signature(init).parameters
    gone = [n for n in REMOVED if n not in params]
    if not gone:
        return

    def __init__(self, *args, **kwargs):
        for n in gone:
            kwargs.pop(n, None)
        init(self, *args, **kwargs)

    __init__.__wrapped__ = init
    cls.__init__ = __init__


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "transformers.training_args":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())
