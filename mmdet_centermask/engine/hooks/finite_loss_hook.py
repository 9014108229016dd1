import glob
import math
import os.path as osp
import re
import statistics
from collections import deque
from typing import Dict, List, Optional, Tuple

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
    """Stop training where it begins to diverge, and point to a checkpoint from before.

    Unlike mmdet's :class:`CheckInvalidLossHook` (an ``assert`` on the total loss every 50
    iterations), it checks every iteration (``interval=1``) and raises
    :class:`FloatingPointError` at the first of:

    - a NaN or infinite loss (every logged loss is named, then their sum);
    - a NaN or infinite gradient norm (logged by mmengine's optimizer wrapper when
      ``optim_wrapper.clip_grad`` is set): the update of this iteration breaks the weights.
      Under float16 ``--amp`` with loss scaling (``AmpOptimWrapper`` on a GPU) such a step is
      skipped by torch's ``GradScaler``, which halves the scale, so there the hook stops only
      when the scale falls below ``min_loss_scale``: the gradients overflow even unscaled;
    - a total loss more than ``max_loss_jump`` times the median of the last ``window``
      iterations: a diverging run's loss is often huge but finite one iteration before it is
      inf, and the checkpoint of that iteration holds finite but already diverged weights.

    The loss of iteration ``i`` is computed with the weights that iteration ``i - 1`` saved, so
    the message names the newest ``iter_*.pth`` taken before the weights that produced the bad
    value (the last checkpoint may already hold them). It runs before :class:`CheckpointHook`
    (priority ``VERY_HIGH``): no checkpoint is written of the stopping iteration. In a
    distributed run the process that sees the value raises, and ``torchrun`` stops the others.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
        max_loss_jump (float, optional): Largest ratio of a total loss to the recent median;
            None turns the check off. Defaults to 1000.
        window (int): How many recent iterations the median is taken over. Defaults to 20.
        min_loss_scale (float): Lowest loss scale of a ``GradScaler`` before the hook stops.
            Defaults to 1.

    Add it with ``custom_hooks = [dict(type='FiniteLossHook')]``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1, max_loss_jump: Optional[float] = 1000.,
                 window: int = 20, min_loss_scale: float = 1.) -> None:
        super().__init__(interval=interval)
        if max_loss_jump is not None and max_loss_jump <= 1:
            raise ValueError(f'max_loss_jump must be above 1 (or None), got {max_loss_jump}')
        self.max_loss_jump = max_loss_jump
        self.min_loss_scale = min_loss_scale
        self.recent_losses: deque = deque(maxlen=window)
        self.first_skipped: Optional[int] = None  # first of the GradScaler's skipped steps

    @staticmethod
    def _loss_scale(runner: Runner) -> Optional[float]:
        """The scale of an enabled ``GradScaler`` (float16 AMP), else None."""
        scaler = getattr(getattr(runner, 'optim_wrapper', None), 'loss_scaler', None)
        if scaler is None or not scaler.is_enabled():
            return None
        return float(scaler.get_scale())

    @staticmethod
    def _grad_norm(runner: Runner) -> Optional[float]:
        """The newest gradient norm mmengine logged (only with ``clip_grad``), else None."""
        buffer = getattr(runner.message_hub, 'log_scalars', {}).get('train/grad_norm')
        return None if buffer is None else float(buffer.current())

    @staticmethod
    def _checkpoints(runner: Runner) -> List[Tuple[int, str]]:
        """(iteration, path) of the ``iter_N.pth`` files of the run, oldest first."""
        last = runner.message_hub.get_info('last_ckpt')
        folders = {folder for folder in (getattr(runner, 'work_dir', None),
                                         osp.dirname(last) if last else None) if folder}
        found: Dict[str, int] = {}
        for folder in folders:
            for path in glob.glob(osp.join(folder, 'iter_*.pth')):
                match = re.fullmatch(r'iter_(\d+)\.pth', osp.basename(path))
                if match:
                    found[osp.abspath(path)] = int(match.group(1))
        if last and osp.abspath(last) not in found:
            match = re.search(r'iter_(\d+)\.pth$', last)
            found[osp.abspath(last)] = int(match.group(1)) if match else -1
        return sorted((iteration, path) for path, iteration in found.items())

    def _stop(self, runner: Runner, what: str, bad_weights_from: int) -> None:
        """Raise, naming the newest checkpoint older than the weights ``bad_weights_from``."""
        checkpoints = self._checkpoints(runner)
        good = [path for iteration, path in checkpoints if 0 <= iteration < bad_weights_from]
        later = [path for iteration, path in checkpoints if iteration >= bad_weights_from]
        if good:
            saved = (f'the newest checkpoint from before that is {good[-1]}, to resume from with '
                     'a changed config')
        elif checkpoints:
            saved = 'no checkpoint was taken before that'
        else:
            saved = 'no checkpoint was saved yet'
        if later:
            verb = 'holds' if len(later) == 1 else 'hold'
            saved += f' ({", ".join(later)} already {verb} diverged weights)'
        if bad_weights_from == runner.iter + 1:
            where = 'this update breaks the weights'
        elif bad_weights_from == 0:
            where = 'the initial weights produced it'
        else:
            where = f'the weights of iteration {bad_weights_from} produced it'
        raise FloatingPointError(
            f'{what}. Training stopped before saving this iteration; {where}: {saved}. ' + ADVICE)

    def after_train_iter(self, runner: Runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        iteration = runner.iter + 1
        # the losses first, then their sum ('loss', which mmengine logs first)
        names = sorted(outputs, key=lambda name: name == 'loss')
        values = {name: float(torch.as_tensor(outputs[name]).detach()) for name in names}
        bad = [f'{name}={value}' for name, value in values.items() if not math.isfinite(value)]
        if bad:
            self._stop(runner, f'Non-finite loss at iteration {iteration}: {", ".join(bad)}',
                       bad_weights_from=iteration - 1)
        grad_norm = self._grad_norm(runner)
        loss_scale = self._loss_scale(runner)
        if grad_norm is not None and not math.isfinite(grad_norm):
            if loss_scale is None:
                self._stop(runner, f'Non-finite gradient norm at iteration {iteration}: '
                           f'grad_norm={grad_norm}', bad_weights_from=iteration)
            if self.first_skipped is None:
                self.first_skipped = iteration
        elif grad_norm is not None:
            self.first_skipped = None
        if loss_scale is not None and loss_scale < self.min_loss_scale:
            since = self.first_skipped or iteration
            self._stop(runner, f'Loss scale fell to {loss_scale:g} at iteration {iteration}, '
                       f'below min_loss_scale={self.min_loss_scale:g}: the float16 gradients '
                       f'overflow even unscaled (skipped steps since iteration {since})',
                       bad_weights_from=since - 1)
        total = values.get('loss')
        if total is None:
            return
        if self.max_loss_jump is not None and self.recent_losses:
            median = statistics.median(self.recent_losses)
            if median > 0 and total > self.max_loss_jump * median:
                self._stop(runner, f'Loss jump at iteration {iteration}: loss={total:.4g} is '
                           f'{total / median:.3g} times the median {median:.4g} of the last '
                           f'{len(self.recent_losses)} iterations (max_loss_jump='
                           f'{self.max_loss_jump:g})', bad_weights_from=iteration - 1)
        self.recent_losses.append(total)
