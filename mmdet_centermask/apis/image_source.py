"""The images of a batch run, read and prepared by the config's test pipeline in loader workers."""
import json
from pathlib import Path
from typing import List, Optional, Tuple

from mmcv.transforms import Compose
from mmengine.config import Config
from torch.utils.data import Dataset

from mmdet.datasets.api_wrappers import COCO
from ..utils import image_test_pipeline

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class ImageSource:
    """The images to predict, each with an id.

    ``inputs`` is a folder (its image files, sorted by name, ids 1, 2, ...), a text file with
    one image path a line (relative paths from its folder; ids by line), or a COCO json (its
    ``images`` and ids, ``file_name`` under ``img_dir``, default: the json's folder). A COCO
    json with annotations is also the ground truth of :attr:`ann_file`.

    Args:
        inputs (str): Folder, ``.txt`` list or COCO ``.json``.
        img_dir (str, optional): Folder of a COCO json's ``file_name`` s.
    """

    def __init__(self, inputs: str, img_dir: Optional[str] = None) -> None:
        path = Path(inputs)
        self.ann_file: Optional[str] = None
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.images = [(i, str(p)) for i, p in enumerate(files, start=1)]
        elif path.suffix == '.txt':
            lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
            self.images = [(i, str(path.parent / line)) for i, line in enumerate(lines, start=1)]
        elif path.suffix == '.json':
            coco = json.loads(path.read_text())
            if 'images' not in coco:
                raise ValueError(f'{inputs} has no "images": not a COCO json')
            root = Path(img_dir) if img_dir else path.parent
            self.images = [(image['id'], str(root / image['file_name']))
                           for image in coco['images']]
            if coco.get('annotations'):
                self.ann_file = str(path)
        else:
            raise ValueError(f'{inputs} is not a folder, a .txt list of images or a COCO .json')
        if not self.images:
            raise ValueError(f'{inputs} holds no images')

    @classmethod
    def of_dataset(cls, dataset: dict) -> 'ImageSource':
        """The images of a dataset config (a wrapper's inner dataset): its COCO ``ann_file``
        and ``data_prefix.img`` under ``data_root``."""
        while 'dataset' in dataset:  # RepeatDataset, ClassBalancedDataset, ...
            dataset = dataset['dataset']
        root = Path(dataset.get('data_root') or '')
        return cls(str(root / dataset['ann_file']),
                   str(root / dataset.get('data_prefix', {}).get('img', '')))

    def categories(self, classes: Tuple[str, ...]) -> List[int]:
        """COCO category ids of ``classes``: those of the ann file's categories of the same
        names (as mmdet's ``CocoMetric`` takes them), else 1, 2, ..."""
        if self.ann_file is None:
            return list(range(1, len(classes) + 1))
        coco = COCO(self.ann_file)
        ids = coco.get_cat_ids(cat_names=list(classes))
        if len(ids) != len(classes):
            raise ValueError(f'the categories of {self.ann_file} are not the model\'s '
                             f'{len(classes)} classes')
        return ids


class PipelineImages(Dataset):
    """``(img_id, data)`` of each image: ``data`` as the config's test pipeline (without
    annotation loading) gives it, or the reason the image could not be read.

    Args:
        images (list[tuple[int, str]]): ``(img_id, path)`` of each image.
        cfg (Config): The model's config.
    """

    def __init__(self, images: List[Tuple[int, str]], cfg: Config) -> None:
        self.images = images
        self.pipeline = Compose(image_test_pipeline(cfg))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple:
        img_id, path = self.images[index]
        try:
            return img_id, self.pipeline(dict(img_path=path, img_id=img_id))
        except Exception as error:  # an unreadable image is reported, never a stop
            return img_id, f'{path}: {type(error).__name__}: {error}'
