# Installed into the mlgym runtime (site-packages, loaded by a .pth file). MLGym's code (2025) uses what transformers
# 5 removed; where only transformers 5 can be had (its huggingface-hub 1.x is all the index has), this lets MLGym's
# files run unchanged: TrainingArguments accepts logging_dir again and ignores it (transformers 5 writes no
# TensorBoard logs unless report_to asks), and `from transformers import AdamW` gives torch's AdamW (which
# transformers' own deprecated AdamW pointed users to). Nothing is imported until the code imports transformers.
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


def _patch_top(module):
    try:
        getattr(module, "AdamW")
    except (AttributeError, ImportError, ModuleNotFoundError):
        import torch.optim

        module.AdamW = torch.optim.AdamW


PATCHES = {"transformers.training_args": _patch, "transformers": _patch_top}


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
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
            # transformers puts a lazy module in its own place in sys.modules: patch what importers get
            PATCHES[name](sys.modules.get(name, module))

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())
