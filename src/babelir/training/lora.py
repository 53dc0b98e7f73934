"""LoRA (low-rank adaptation) during training, through peft: the starting model's weights stay
frozen and each targeted linear layer learns ``W + (alpha / r) · B A`` (B: out × r, A: r × in;
B starts at zero, so step 0 is the untuned model).

peft injects the adapters into the encoder (``inject_adapter_in_model``) and merges them
(``LoraLayer.merge``); what is babelir's own is only how a LoRA run keeps its files plain:

* every saved model (checkpoints' ``model/``, ``best/``, ``final/``) is the **merged** weights
  under the original names, an ordinary sentence-transformers folder that ``eval``, ``index``,
  ``merge`` and ``search`` read like any other;
* exact resume needs the factors A and B, not their product: they travel in the checkpoint's
  ``trainer_state.pt`` (``lora_state``, plain tensors), and the frozen base weights are the
  starting model's, loaded again (``load_model``) before the factors are put back.

No peft file format (``adapter_model.safetensors``) is written: nothing else would read it.
"""

from __future__ import annotations

import copy
import math

import torch

from babelir.errors import BabelirError

KEY = "lora"  # the trainer-state entry holding the factors
BASE_KEY = "lora_base_sum"  # ... and the sum of the frozen base weights they were trained on


def add_lora(model, config) -> None:
    """Inject LoRA adapters of rank ``config.lora_rank`` into ``model``'s encoder (in place)
    and leave only them trainable."""
    from peft import LoraConfig, inject_adapter_in_model

    encoder = model[0].auto_model
    names = {name.rsplit(".", 1)[-1] for name, module in encoder.named_modules()
             if isinstance(module, torch.nn.Linear)}
    unknown = [t for t in config.lora_targets if t not in names]
    if unknown:
        raise BabelirError(f"lora_targets {unknown} name no linear layer of {config.model} "
                           f"(its linear layers: {', '.join(sorted(names))})")
    settings = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                          target_modules=list(config.lora_targets), bias="none")
    inject_adapter_in_model(settings, encoder)
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad_("lora_" in name)


def has_lora(model) -> bool:
    from peft.tuners.lora import LoraLayer

    return any(isinstance(m, LoraLayer) for m in model[0].auto_model.modules())


def lora_state(model) -> dict[str, torch.Tensor]:
    """The adapter factors (name -> tensor, cloned), for the checkpoint."""
    return {name: p.detach().clone() for name, p in model[0].auto_model.named_parameters()
            if "lora_" in name}


def base_sum(model) -> float:
    """The sum (float64) of every weight that is not an adapter's: the frozen starting model
    the factors belong to, checked again on resume."""
    return float(sum(p.detach().double().sum() for name, p in
                     model[0].auto_model.named_parameters() if "lora_" not in name))


def load_lora_state(model, state: dict[str, torch.Tensor], base: float | None,
                    where: str) -> None:
    """Put the checkpoint's factors back into a model with the same adapters, on the same
    starting weights (``base``: their ``base_sum`` when the checkpoint was written)."""
    if base is not None and not math.isclose(base_sum(model), base, rel_tol=1e-9):
        raise BabelirError(f"checkpoint {where}: the starting model's weights are not the ones "
                           "its LoRA adapters were trained on (was the model folder replaced?)")
    params = dict(model[0].auto_model.named_parameters())
    wanted = {name for name in params if "lora_" in name}
    if set(state) != wanted:
        raise BabelirError(f"checkpoint {where} does not fit the model's LoRA adapters "
                           f"(missing {sorted(wanted - set(state))[:3]}, unexpected "
                           f"{sorted(set(state) - wanted)[:3]})")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def merged_copy(model):
    """A copy of ``model`` with every adapter merged into its layer and the layer put back
    under its original name: the plain model that LoRA training amounts to."""
    from peft.tuners.lora import LoraLayer

    plain = copy.deepcopy(model)
    encoder = plain[0].auto_model
    for name, module in list(encoder.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = encoder.get_submodule(parent_name) if parent_name else encoder
            setattr(parent, child, module.get_base_layer())
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    return plain


def plain_model(model):
    """``model`` itself, or its merged copy when it carries LoRA adapters (what is saved)."""
    return merged_copy(model) if has_lora(model) else model
