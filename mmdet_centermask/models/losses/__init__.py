from .smoothed_giou_loss import SmoothedGIoULoss

__all__ = ['SmoothedGIoULoss']
