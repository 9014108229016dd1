from mmengine.runner import Runner

from mmdet.engine.hooks import NumClassCheckHook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class PanopticClassCheckHook(NumClassCheckHook):
    """mmdet's :class:`NumClassCheckHook` for panoptic models: the dataset's ``thing_classes``
    and ``stuff_classes`` against the model's heads, before training and each evaluation.

    mmdet's hook compares every head with ``len(classes)``, which a panoptic dataset counts
    things and stuff together in (133 on COCO against 80 of the box head). Here the heads with
    ``num_classes`` and no stuff classes (FCOS, mask, MaskIoU) must have ``len(thing_classes)``,
    and the heads with ``num_stuff_classes`` (semantic and fusion heads) ``len(thing_classes)``
    things and ``len(stuff_classes)`` stuff; otherwise a :class:`ValueError` lists every head
    that disagrees.
    """

    def _check_head(self, runner: Runner, mode: str) -> None:
        """Compare the heads with the dataset of ``mode`` ('train' or 'val')."""
        dataset = (runner.train_dataloader.dataset if mode == 'train' else
                   runner.val_dataloader.dataset)
        meta = dataset.metainfo
        if 'thing_classes' not in meta or 'stuff_classes' not in meta:
            raise ValueError(f'{type(dataset).__name__} metainfo has no thing_classes and '
                             'stuff_classes: a panoptic model needs a panoptic dataset '
                             '(CheckedCocoPanopticDataset)')
        num_things, num_stuff = len(meta['thing_classes']), len(meta['stuff_classes'])
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        errors = []
        for name, module in model.named_modules():
            if hasattr(module, 'num_stuff_classes'):
                counts = (module.num_things_classes, module.num_stuff_classes)
                if counts != (num_things, num_stuff):
                    errors.append(f'{name} ({type(module).__name__}) has num_things_classes='
                                  f'{counts[0]}, num_stuff_classes={counts[1]}')
            elif hasattr(module, 'num_classes') and module.num_classes != num_things:
                errors.append(f'{name} ({type(module).__name__}) has num_classes='
                              f'{module.num_classes}')
        if errors:
            raise ValueError(
                f'the {mode} dataset ({type(dataset).__name__}) has {num_things} thing_classes '
                f'and {num_stuff} stuff_classes, but ' + '; '.join(errors) + '. Set every '
                'num_classes and num_things_classes to the thing count, num_stuff_classes to '
                'the stuff count.')
