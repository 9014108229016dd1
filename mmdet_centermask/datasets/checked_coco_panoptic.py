from mmdet.datasets import CocoPanopticDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class CheckedCocoPanopticDataset(CocoPanopticDataset):
    """mmdet's :class:`CocoPanopticDataset` with its annotation checked.

    - Every segment's ``category_id`` must be a category of the annotation file that the
      metainfo names, every metainfo class a category of the file, and the thing classes the
      first labels (mmdet's semantic heads take labels below ``len(thing_classes)`` for
      things): otherwise a :class:`ValueError` names the problem (mmdet raises a bare
      ``KeyError``, or shifts labels without a word).
    - ``segment_ids`` lists every segment of the image in the annotation file (also those
      dropped for an empty box), so that the loader can tell a PNG id that no segment has.

    Crowd regions of thing classes are no instances (neither trained on nor ignored), as in
    detectron2's training, which drops ``iscrowd`` objects; their pixels keep their thing label
    in the semantic map.
    """

    def _check_categories(self) -> None:
        """The metainfo's classes against the annotation file's categories."""
        classes = list(self.metainfo['classes'])
        num_things = len(self.metainfo['thing_classes'])
        num_stuff = len(self.metainfo['stuff_classes'])
        if num_things + num_stuff != len(classes):
            raise ValueError(
                f'{self.ann_file}: metainfo has {len(classes)} classes but {num_things} '
                f'thing_classes + {num_stuff} stuff_classes; classes must be the thing classes '
                'followed by the stuff classes')
        names = {cat['name']: cat for cat in self.coco.cats.values()}
        missing = [name for name in classes if name not in names]
        if missing:
            raise ValueError(f'{self.ann_file}: the metainfo classes {missing} are not among '
                             'the categories of the annotation file')
        misplaced = [name for label, name in enumerate(classes)
                     if bool(names[name].get('isthing', 1)) != (label < num_things)]
        if misplaced:
            raise ValueError(
                f'{self.ann_file}: the classes {misplaced} are not in place: the first '
                f'{num_things} labels must be the thing classes (isthing=1 in the file) and the '
                f'other {num_stuff} the stuff classes, in the order of the file\'s categories')

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's parse, after checking the categories (once) and the image's segments.

        Raises:
            ValueError: A segment's category is not among the metainfo's classes.
        """
        if not getattr(self, '_categories_checked', False):
            self._check_categories()
            self._categories_checked = True
        img_info = raw_data_info['raw_img_info']
        anns = [ann for ann in raw_data_info['raw_ann_info']
                if ann['image_id'] == img_info['img_id']]
        for ann in anns:
            if ann['category_id'] not in self.cat2label:
                raise ValueError(
                    f'{self.ann_file}: segment {ann["id"]} of image {img_info["file_name"]} '
                    f'(id {img_info["img_id"]}) has category_id {ann["category_id"]}, which is '
                    f'not a category of the file named in the metainfo classes (known ids: '
                    f'{sorted(self.cat2label)})')
        data_info = super().parse_data_info(raw_data_info)
        data_info['segment_ids'] = [ann['id'] for ann in anns]
        return data_info
