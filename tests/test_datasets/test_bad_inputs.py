"""Bad or unusual data through mmdet's CocoDataset, the zoo training pipeline and a CenterMask
training step: images without annotations, zero-area and out-of-image boxes, polygon / RLE / crowd
masks (also the real ones of coco45), grayscale and RGBA images, corrupt and missing image files.
The README's troubleshooting table refers to these tests by name."""
import copy
import json
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from mmdet_centermask.testing import load_config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper

from mmdet.registry import DATASETS, MODELS, TRANSFORMS
from mmdet_centermask.datasets import CheckedLoadImageFromFile

LITE_CONFIG = 'centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py'
IMG_W, IMG_H = 192, 144
CLASSES = ('thing', 'stuff')
LOSSES = ('loss_cls', 'loss_bbox', 'loss_centerness', 'loss_mask', 'loss_mask_iou')


def rectangle(x: int, y: int, w: int, h: int) -> np.ndarray:
    mask = np.zeros((IMG_H, IMG_W), dtype=np.uint8)
    mask[y:y + h, x:x + w] = 1
    return mask


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, starting with zeros."""
    pixels = mask.flatten(order='F')
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(pixels)) + 1, [pixels.size]])
    counts = np.diff(bounds).tolist()
    return dict(size=list(mask.shape), counts=[0] + counts if pixels[0] else counts)


def compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask))
    return dict(size=rle['size'], counts=rle['counts'].decode())


def polygon_ann(x: int, y: int, w: int, h: int, category_id: int = 1) -> dict:
    return dict(bbox=[x, y, w, h], area=w * h, iscrowd=0, category_id=category_id,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])


def rle_ann(mask: np.ndarray, rle: dict, iscrowd: int, category_id: int = 2) -> dict:
    x, y, w, h = cv2.boundingRect(mask)
    return dict(bbox=[x, y, w, h], area=int(mask.sum()), iscrowd=iscrowd,
                category_id=category_id, segmentation=rle)


# image id -> (file name, annotations)
MULTI_PART = dict(bbox=[20, 20, 90, 40], area=1600 + 900, iscrowd=0, category_id=1,
                  segmentation=[[20, 20, 60, 20, 60, 60, 20, 60],
                                [80, 20, 110, 20, 110, 50, 80, 50]])
MASK_IMAGE_AREAS = [2500, 1200, 2000]  # multi-part polygon, compressed RLE, uncompressed RLE
CROWD_AREA = 2000
IMAGES: Dict[int, tuple] = {
    1: ('empty.jpg', []),
    2: ('masks.jpg', [
        MULTI_PART,
        rle_ann(rectangle(30, 70, 40, 30), compressed_rle(rectangle(30, 70, 40, 30)), 0),
        rle_ann(rectangle(100, 70, 50, 40), uncompressed_rle(rectangle(100, 70, 50, 40)), 0),
        rle_ann(rectangle(130, 10, 50, 40), uncompressed_rle(rectangle(130, 10, 50, 40)), 1),
    ]),
    3: ('boxes.jpg', [
        polygon_ann(40, 40, 50, 50),
        dict(polygon_ann(10, 10, 20, 20), area=0),  # zero area
        dict(polygon_ann(100, 10, 1, 30), bbox=[100, 10, 0.5, 30]),  # under a pixel wide
        polygon_ann(200, 20, 30, 30),  # entirely right of the 192-pixel image
        polygon_ann(150, 100, 60, 60),  # partly outside: right and bottom
    ]),
    4: ('gray.png', [polygon_ann(20, 30, 60, 50)]),
    5: ('rgba.png', [polygon_ann(60, 40, 70, 60, category_id=2)]),
}


def write_coco(path: Path, images: Dict[int, tuple]) -> None:
    annotations = []
    for image_id, (_, anns) in images.items():
        for ann in anns:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=image_id))
    path.write_text(json.dumps(dict(
        images=[dict(id=image_id, file_name=file_name, width=IMG_W, height=IMG_H)
                for image_id, (file_name, _) in images.items()],
        annotations=annotations,
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)])))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``instances.json`` with the images of IMAGES, and ``broken.json`` with a valid, a corrupt,
    an empty and a missing image file."""
    root = tmp_path_factory.mktemp('bad_inputs')
    rng = np.random.default_rng(0)
    for image_id, (file_name, anns) in IMAGES.items():
        image = rng.integers(0, 80, (IMG_H, IMG_W, 3), dtype=np.uint8)
        for ann in anns:
            x, y, w, h = (int(v) for v in ann['bbox'])
            image[max(y, 0):y + h, max(x, 0):x + w] = (40, 200, 40)
        if file_name == 'gray.png':
            image = image[..., 1]
        elif file_name == 'rgba.png':
            image = np.dstack([image, np.full((IMG_H, IMG_W), 128, dtype=np.uint8)])
        cv2.imwrite(str(root / file_name), image)
    write_coco(root / 'instances.json', IMAGES)
    (root / 'corrupt.jpg').write_bytes(b'this is not an image' * 20)
    (root / 'zero_bytes.jpg').write_bytes(b'')
    write_coco(root / 'broken.json', {
        1: ('boxes.jpg', IMAGES[3][1]),
        2: ('corrupt.jpg', IMAGES[3][1]),
        3: ('zero_bytes.jpg', IMAGES[3][1]),
        4: ('missing.jpg', IMAGES[3][1]),
    })
    return root


def zoo_train_pipeline(load_image: str = 'CheckedLoadImageFromFile') -> List[dict]:
    """The CenterMask-Lite zoo training pipeline, resizing to 256 x 192 for speed."""
    pipeline = copy.deepcopy(load_config(LITE_CONFIG).train_pipeline)
    assert [t['type'] for t in pipeline] == ['CheckedLoadImageFromFile', 'LoadPolygonAnnotations',
                                             'RandomChoiceResize', 'RandomFlip', 'PackDetInputs']
    pipeline[0]['type'] = load_image
    pipeline[2]['scales'] = [(256, 192)]
    return pipeline


def coco_dataset(root: Path, pipeline: List[dict], ann_file: str = 'instances.json',
                 img_dir: str = '', filter_empty_gt: bool = False, classes=CLASSES):
    """mmdet's CocoDataset in training mode (``classes=None``: the 80 COCO classes)."""
    return DATASETS.build(dict(
        type='CocoDataset', data_root=str(root), ann_file=ann_file, data_prefix=dict(img=img_dir),
        metainfo=dict(classes=classes) if classes else None,
        filter_cfg=dict(filter_empty_gt=filter_empty_gt), pipeline=pipeline))


def items_by_id(dataset, image_ids) -> list:
    index = {dataset.get_data_info(i)['img_id']: i for i in range(len(dataset))}
    return [dataset[index[image_id]] for image_id in image_ids]


def build_lite_model(num_classes: int):
    model_cfg = load_config(LITE_CONFIG).model
    model_cfg.bbox_head.num_classes = num_classes
    model_cfg.roi_head.mask_head.num_classes = num_classes
    model_cfg.roi_head.mask_iou_head.num_classes = num_classes
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def model():
    return build_lite_model(len(CLASSES))


def train_step(model, items: list) -> Dict[str, float]:
    """One training step (forward, backward, SGD with lr 0) on the collated items."""
    torch.manual_seed(0)
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.0))
    model.train()
    log_vars = model.train_step(pseudo_collate(items), optim_wrapper)
    return {name: float(torch.as_tensor(value).detach()) for name, value in log_vars.items()}


def test_image_without_annotations_is_kept_when_filter_empty_gt_is_false(data_root):
    def image_ids(filter_empty_gt: bool) -> List[int]:
        dataset = coco_dataset(data_root, [], filter_empty_gt=filter_empty_gt)
        return sorted(dataset.get_data_info(i)['img_id'] for i in range(len(dataset)))

    assert image_ids(filter_empty_gt=False) == [1, 2, 3, 4, 5]
    assert image_ids(filter_empty_gt=True) == [2, 3, 4, 5]  # the zoo configs' setting


def test_image_without_annotations_trains_with_finite_losses(data_root, model):
    item, = items_by_id(coco_dataset(data_root, zoo_train_pipeline()), [1])
    assert len(item['data_samples'].gt_instances) == 0
    losses = train_step(model, [item])
    assert np.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0  # all points are background
    for name in LOSSES[1:]:
        assert losses[name] == 0, name


def test_classes_not_named_in_the_annotation_file_lose_their_annotations(data_root):
    """CocoDataset finds category ids by the names in ``metainfo.classes``: a misspelt class loses
    its annotations without a warning, and filter_empty_gt then drops its images."""
    dataset = coco_dataset(data_root, [], filter_empty_gt=True, classes=('thing', 'Stuff'))
    infos = {info['img_id']: info for info in map(dataset.get_data_info, range(len(dataset)))}
    assert sorted(infos) == [2, 3, 4]  # image 5 holds only a 'stuff' instance
    assert [instance['bbox_label'] for instance in infos[2]['instances']] == [0]


def test_coco_dataset_drops_zero_area_thin_and_outside_boxes(data_root):
    """mmdet's CocoDataset drops area <= 0, w or h < 1 and boxes without overlap with the image; it
    keeps a partly outside box as it is, and Resize then clips it to the image."""
    dataset = coco_dataset(data_root, [])
    index = {dataset.get_data_info(i)['img_id']: i for i in range(len(dataset))}
    instances = dataset.get_data_info(index[3])['instances']
    assert [instance['bbox'] for instance in instances] == [[40, 40, 90, 90],
                                                            [150, 100, 210, 160]]
    item, = items_by_id(coco_dataset(data_root, zoo_train_pipeline()), [3])
    sample = item['data_samples']
    img_h, img_w = sample.img_shape
    boxes = sample.gt_instances.bboxes.tensor
    assert len(boxes) == 2
    assert boxes[:, 0::2].min() >= 0 and boxes[:, 2].max() <= img_w
    assert boxes[:, 1::2].min() >= 0 and boxes[:, 3].max() <= img_h


def test_polygon_rle_and_crowd_masks_load_with_their_areas(data_root):
    """Multi-part polygon, compressed and uncompressed RLE (iscrowd=0) decode to their pixels; the
    crowd RLE becomes an ignored instance."""
    load = [TRANSFORMS.build(dict(type='LoadImageFromFile')),
            TRANSFORMS.build(dict(type='LoadAnnotations', with_bbox=True, with_mask=True))]
    dataset = coco_dataset(data_root, load)
    results, = items_by_id(dataset, [2])
    assert results['gt_masks'].areas.tolist() == MASK_IMAGE_AREAS + [CROWD_AREA]
    assert results['gt_ignore_flags'].tolist() == [False, False, False, True]
    item, = items_by_id(coco_dataset(data_root, zoo_train_pipeline()), [2])
    sample = item['data_samples']
    assert len(sample.gt_instances) == 3 and len(sample.ignored_instances) == 1


def test_rle_masks_are_ignored_when_poly2mask_is_false(data_root):
    """mmdet's documented limit: LoadAnnotations(poly2mask=False) keeps polygons as PolygonMasks and
    turns every RLE instance into an ignored one. Keep the default poly2mask=True with RLE masks."""
    load = [TRANSFORMS.build(dict(type='LoadImageFromFile')),
            TRANSFORMS.build(dict(type='LoadAnnotations', with_bbox=True, with_mask=True,
                                  poly2mask=False))]
    results, = items_by_id(coco_dataset(data_root, load), [2])
    assert results['gt_ignore_flags'].tolist() == [False, True, True, True]


def test_polygon_loading_falls_back_to_bitmaps_only_for_kept_rle_masks(data_root):
    """LoadPolygonAnnotations (the zoo pipelines): polygons stay PolygonMasks (centermask2's
    targets) unless a kept instance has an RLE mask; then the image's masks are bitmaps, as
    with mmdet's default, and no instance is lost. A crowd RLE alone keeps the polygon path."""
    load = [TRANSFORMS.build(dict(type='LoadImageFromFile')),
            TRANSFORMS.build(dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True))]
    dataset = coco_dataset(data_root, load)
    with_rle, polygons_only = items_by_id(dataset, [2, 4])
    assert type(with_rle['gt_masks']).__name__ == 'BitmapMasks'
    assert with_rle['gt_masks'].areas.tolist() == MASK_IMAGE_AREAS + [CROWD_AREA]
    assert with_rle['gt_ignore_flags'].tolist() == [False, False, False, True]
    assert type(polygons_only['gt_masks']).__name__ == 'PolygonMasks'
    assert polygons_only['gt_masks'].areas.tolist() == [60 * 50]
    crowd_only = copy.deepcopy(dataset.get_data_info(dataset_index(dataset, 2)))
    crowd_only['instances'] = [crowd_only['instances'][0], crowd_only['instances'][3]]
    results = load[1](load[0](crowd_only))
    assert type(results['gt_masks']).__name__ == 'PolygonMasks'
    assert results['gt_masks'].areas[0] == 2500 and results['gt_ignore_flags'].tolist() == [
        False, True]


def dataset_index(dataset, image_id: int) -> int:
    return next(i for i in range(len(dataset)) if dataset.get_data_info(i)['img_id'] == image_id)


def test_mixed_mask_formats_and_image_modes_train_a_step_with_finite_losses(data_root, model):
    """Polygons, RLE, a crowd region, dropped and clipped boxes, a grayscale and an RGBA image in
    one batch."""
    items = items_by_id(coco_dataset(data_root, zoo_train_pipeline()), [2, 3, 4, 5])
    losses = train_step(model, items)
    for name in LOSSES:
        assert np.isfinite(losses[name]), name
    assert losses['loss_mask'] > 0 and losses['loss_bbox'] > 0


def test_coco45_crowd_rle_and_multi_part_polygons_train_a_step(coco45):
    """The four images of coco45 with crowd RLE masks (two of them with multi-part polygons)."""
    dataset = coco_dataset(coco45, zoo_train_pipeline(), img_dir='images/', classes=None)
    items = items_by_id(dataset, [257, 357, 544, 564])
    assert [len(item['data_samples'].ignored_instances) for item in items] == [1, 1, 1, 1]
    # COCO's crowd regions are RLE but ignored: the images keep centermask2's polygon path
    assert all(type(item['data_samples'].gt_instances.masks).__name__ == 'PolygonMasks'
               for item in items)
    losses = train_step(build_lite_model(80), items)
    for name in LOSSES:
        assert np.isfinite(losses[name]) and losses[name] > 0, name


@pytest.mark.parametrize('load_image', ['LoadImageFromFile', 'CheckedLoadImageFromFile'])
@pytest.mark.parametrize('file_name', ['gray.png', 'rgba.png'])
def test_grayscale_and_rgba_images_load_as_3_channel_bgr(data_root, load_image, file_name):
    results = TRANSFORMS.build(dict(type=load_image))(dict(img_path=str(data_root / file_name)))
    stored = cv2.imread(str(data_root / file_name), cv2.IMREAD_UNCHANGED)
    # the gray channel three times, or BGR without the alpha channel
    expected = np.dstack([stored] * 3) if stored.ndim == 2 else stored[..., :3]
    assert stored.shape[2:] == ((4, ) if file_name == 'rgba.png' else ())
    assert results['img'].shape == (IMG_H, IMG_W, 3) and results['img'].dtype == np.uint8
    assert np.array_equal(results['img'], expected)


@pytest.mark.parametrize('file_name', ['corrupt.jpg', 'zero_bytes.jpg', 'truncated.jpg'])
def test_corrupt_image_file_is_a_clear_error(data_root, file_name, tmp_path):
    """Before (mmcv's LoadImageFromFile): ``AssertionError: failed to load image`` for undecodable
    bytes and an OpenCV ``!buf.empty()`` error that does not name the file for an empty one."""
    path = data_root / file_name
    if file_name == 'truncated.jpg':
        path = tmp_path / file_name
        path.write_bytes((data_root / 'masks.jpg').read_bytes()[:500])
    with pytest.raises(ValueError, match=rf'cannot decode image .*{file_name}: its \d+ bytes'):
        CheckedLoadImageFromFile()(dict(img_path=str(path)))


def test_missing_image_file_is_a_clear_error(data_root):
    with pytest.raises(FileNotFoundError, match=r'image file not found: .*missing.jpg \(check '
                                                r'data_root, data_prefix.img'):
        CheckedLoadImageFromFile()(dict(img_path=str(data_root / 'missing.jpg')))


@pytest.mark.parametrize('file_name, error', [('corrupt.jpg', ValueError),
                                              ('zero_bytes.jpg', ValueError),
                                              ('missing.jpg', FileNotFoundError)])
def test_broken_image_in_a_training_dataset_raises_instead_of_being_refetched(
        data_root, file_name, error):
    """mmengine's BaseDataset refetches another image only when the pipeline returns None; an
    exception reaches the user (through the DataLoader worker) naming the file."""
    dataset = coco_dataset(data_root, zoo_train_pipeline(),
                           ann_file='broken.json')
    index = {Path(dataset.get_data_info(i)['img_path']).name: i for i in range(len(dataset))}
    with pytest.raises(error, match=file_name):
        dataset[index[file_name]]


def test_ignore_empty_skips_broken_images_in_training(data_root):
    """With ``ignore_empty=True`` the loader returns None for a broken file and the training dataset
    loads another random image instead (at most ``max_refetch`` times in a row)."""
    pipeline = zoo_train_pipeline()
    pipeline[0]['ignore_empty'] = True
    dataset = coco_dataset(data_root, pipeline, ann_file='broken.json')
    for i in range(len(dataset)):
        assert Path(dataset[i]['data_samples'].img_path).name == 'boxes.jpg'
