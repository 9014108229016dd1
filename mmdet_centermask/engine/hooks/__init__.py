from .eval_progress_bar_hook import EvalProgressBarHook
from .finite_loss_hook import FiniteLossHook
from .panoptic_class_check_hook import PanopticClassCheckHook
from .rng_state_hook import RNGStateHook

__all__ = ['EvalProgressBarHook', 'FiniteLossHook', 'PanopticClassCheckHook', 'RNGStateHook']
