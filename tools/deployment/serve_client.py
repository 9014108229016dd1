"""Send images to a running ``tools/deployment/serve.py`` and save its answers (standard library
only: runs where mmdet is not installed).

Example::

    python tools/deployment/serve_client.py photo1.jpg photo2.png --url http://127.0.0.1:8000 \\
        --out answers.json

Prints one line per image (status and detections by class); ``--out`` writes ``{image: answer}``
with the masks as COCO RLE (``pycocotools.mask.decode`` reads them). Exits 1 if any image was
refused.
"""
import argparse
import json
import mimetypes
import sys
import urllib.error
import urllib.request
from collections import Counter
from typing import Tuple


def predict(url: str, path: str, timeout: float) -> Tuple[int, dict]:
    """Status and json answer of ``POST {url}/predict`` with the file as the body."""
    with open(path, 'rb') as file:
        body = file.read()
    content_type = mimetypes.guess_type(path)[0] or 'application/octet-stream'
    request = urllib.request.Request(f'{url}/predict', data=body, method='POST',
                                     headers={'Content-Type': content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors='replace')
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, dict(error=text)


def main(args: argparse.Namespace) -> int:
    answers, refused = {}, 0
    for path in args.images:
        status, answer = predict(args.url.rstrip('/'), path, args.timeout)
        answers[path] = answer
        if status == 200:
            counts = Counter(answer['classes'])
            print(f'{path}: {len(answer["labels"])} detections '
                  + ', '.join(f'{n} {name}' for name, n in counts.most_common()))
        else:
            refused += 1
            print(f'{path}: {status} {answer.get("error", answer)}')
    if args.out:
        with open(args.out, 'w') as file:
            json.dump(answers, file)
    return 1 if refused else 0


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Send images to the CenterMask server')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--url', default='http://127.0.0.1:8000')
    parser.add_argument('--out', help='write the answers to this json file')
    parser.add_argument('--timeout', type=float, default=60.0)
    return parser.parse_args(args)


if __name__ == '__main__':
    sys.exit(main(parse_args()))
