import math
from typing import Optional

import torch
from mmengine.runner import Runner

from mmdet.engine.hooks import CheckInvalidLossHook
from mmdet.registry import HOOKS

ADVICE = (
    'What to try: a lower learning rate (optim_wrapper.optimizer.lr, or --auto-scale-lr when '
    'the batch is smaller than the config\'s base_batch_size); a longer warmup (the LinearLR '
    'entry of param_scheduler: larger end, smaller start_factor); gradient clipping '
    '(optim_wrapper.clip_grad=dict(max_norm=35, norm_type=2)); training without --amp; and '
    'check the annotations (boxes of zero or negative size, masks that do not match their '
    'boxes) and that num_classes of bbox_head, mask_head and mask_iou_head equals the number '
    "of the dataset's classes.")


@HOOKS.register_module()
class FiniteLossHook(CheckInvalidLossHook):
    """Stop training at the first iteration whose losses are not finite.

    Unlike mmdet's :class:`CheckInvalidLossHook` (an ``assert`` on the total loss every 50
    iterations), it checks every logged value of every iteration (``interval=1``) and raises
    :class:`FloatingPointError` naming the NaN or infinite losses, with what to try. It runs
    before :class:`CheckpointHook` (priority ``VERY_HIGH``), so no checkpoint is written of an
    iteration with a non-finite loss: the checkpoints saved before are kept, to resume from
    with a changed config. In a distributed run the process that sees the loss raises, and
    ``torchrun`` stops the others.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.

    Add it with ``custom_hooks = [dict(type='FiniteLossHook')]``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1) -> None:
        super().__init__(interval=interval)

    def after_train_iter(self, runner: Runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        # the losses first, then their sum ('loss', which mmengine logs first)
        names = sorted(outputs, key=lambda name: name == 'loss')
        values = {name: float(torch.as_tensor(outputs[name]).detach()) for name in names}
        bad = [f'{name}={value}' for name, value in values.items() if not math.isfinite(value)]
        if bad:
            last_checkpoint = runner.message_hub.get_info('last_ckpt')
            saved = (f'the last checkpoint is {last_checkpoint}' if last_checkpoint else
                     'no checkpoint was saved yet')
            raise FloatingPointError(
                f'Non-finite loss at iteration {runner.iter + 1}: {", ".join(bad)}. Training '
                f'stopped before saving this iteration; {saved}. ' + ADVICE)
