from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPolygonAnnotations(LoadAnnotations):
    """mmdet's :class:`LoadAnnotations` that keeps polygon masks as polygons, and turns an
    image's masks into bitmaps only where a polygon path would lose an instance.

    centermask2 trains on polygons: mask targets are rasterised per RoI from the polygon and the
    MaskIoU target's area ratio comes from the polygon cut by the float RoI. mmdet's
    ``poly2mask=False`` gives :class:`PolygonMasks`, but it marks every instance whose mask is
    RLE as ignored, so an RLE-only dataset would silently train on no masks. Here:

    * an image whose kept (non-ignored) instances all have polygons gets :class:`PolygonMasks`
      (COCO: crowd regions are RLE, but they are ignored instances, which CenterMask does not
      train on);
    * an image with an RLE (compressed or not) mask on a kept instance gets
      :class:`BitmapMasks` for all its instances, as ``poly2mask=True`` does.

    Args:
        poly2mask (bool): Always bitmaps, as mmdet's default. Defaults to False.
        **kwargs: Arguments of :class:`LoadAnnotations`.
    """

    def __init__(self, poly2mask: bool = False, **kwargs) -> None:
        super().__init__(poly2mask=poly2mask, **kwargs)
        self.keep_polygons = not poly2mask

    def _load_masks(self, results: dict) -> None:
        """Polygons where every kept instance has one, bitmaps otherwise."""
        has_kept_rle = any(not instance['ignore_flag'] and isinstance(instance['mask'], dict)
                           for instance in results.get('instances', []))
        # LoadAnnotations reads self.poly2mask in _process_masks and _load_masks
        self.poly2mask = has_kept_rle or not self.keep_polygons
        super()._load_masks(results)
